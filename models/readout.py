"""Readouts: a classifier's outputs -> the probability of "animal" (model psychophysics).

The rapid-categorization task asks animal or not. A network trained on another label set needs
a documented readout from its logits (N, K) to P(animal) (N,); the decision is "animal" when
that probability exceeds 0.5. Readouts are plain callables, so any other can be passed to
:func:`models.alignment.model_psychophysics`; :func:`readout_from_name` builds the named ones:

- ``imagenet_animals``: the summed softmax probability of the 398 ImageNet-1k animal classes
  (:data:`IMAGENET_ANIMAL_CLASSES`).
- ``class:K``: the softmax probability of class ``K``: for a network trained on the task
  itself (the toolkit's 2-class checkpoints), the readout is its own "animal" class.

Why indices 0-397 are the animals: the standard ImageNet-1k order is the sorted WordNet ids
(timm's ``ImageNetInfo``; class 0 ``n01440764`` tench, 397 ``n02655020`` puffer, 398
``n02666196`` abacus). WordNet noun offsets follow its lexicographer files, and ``noun.animal``
precedes ``noun.artifact``, so sorted ids put all animal synsets first: 0-397 are fish, birds,
amphibians, reptiles, mammals and invertebrates, and 398-999 artefacts, foods, plants, fungi,
scenes and people, none an animal. The boundary is checked against timm's class list in the
tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickme_analysis.errors import InputError

#: ImageNet-1k class indices (standard order) that are animals: 0 (tench) .. 397 (puffer).
IMAGENET_ANIMAL_CLASSES: tuple[int, ...] = tuple(range(398))

READOUTS = ("imagenet_animals", "class:K")


@dataclass(frozen=True)
class ClassSum:
    """P(animal) = summed softmax probability of ``classes`` (a frozen, printable readout).

    Examples
    --------
    >>> import torch
    >>> readout = ClassSum((0,), name="class:0")
    >>> readout(torch.tensor([[0.0, 0.0]])).tolist()
    [0.5]
    """

    classes: tuple[int, ...]
    name: str = "classes"

    def __call__(self, logits):
        import torch

        if logits.ndim != 2 or max(self.classes) >= logits.shape[1]:
            raise InputError(
                f"readout {self.name!r} needs logits (N, K) with K > {max(self.classes)}, "
                f"got shape {tuple(logits.shape)}",
                field="readout",
            )
        probabilities = torch.softmax(logits.float(), dim=1)
        return probabilities[:, list(self.classes)].sum(1)


def readout_from_name(name: str, num_classes: int) -> ClassSum:
    """A named readout for a network with ``num_classes`` outputs.

    Examples
    --------
    >>> readout_from_name("imagenet_animals", 1000).classes[-1]
    397
    >>> readout_from_name("class:1", 2)
    ClassSum(classes=(1,), name='class:1')
    """
    if name == "imagenet_animals":
        if num_classes != 1000:
            raise InputError(
                f"the imagenet_animals readout needs 1000 ImageNet outputs, the model has {num_classes}; use class:K",
                field="readout",
            )
        return ClassSum(IMAGENET_ANIMAL_CLASSES, name)
    kind, _, value = name.partition(":")
    if kind == "class" and value.strip().isdigit():
        k = int(value)
        if k >= num_classes:
            raise InputError(f"readout {name!r}: the model has classes 0-{num_classes - 1}", field="readout")
        return ClassSum((k,), name)
    raise InputError(f"unknown readout {name!r}; expected one of {', '.join(READOUTS)}", field="readout")


def default_readout(num_classes: int) -> ClassSum:
    """``imagenet_animals`` for 1000-way networks, ``class:0`` for 2-way ones (animal first)."""
    if num_classes == 1000:
        return readout_from_name("imagenet_animals", num_classes)
    if num_classes == 2:
        return readout_from_name("class:0", num_classes)
    raise InputError(
        f"no default animal readout for a {num_classes}-class network; pass --readout class:K (K the animal class)",
        field="readout",
    )
