"""The ClickMe game: a player paints the parts of an image that matter for recognizing it while a
network partner tries to recognize the image from what was painted (Linsley et al., 2019).

Modules: :mod:`~experiments.game.config` (settings), :mod:`~experiments.game.task` (round logic,
images, the click log), :mod:`~experiments.game.partner` (partners and their off-frame queries),
:mod:`~experiments.game.player` (the simulated player), :mod:`~experiments.game.play` (the frame
loop in a PsychoPy window or window-free). PsychoPy and torch are imported inside the functions
that need them.
"""
