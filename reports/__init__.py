"""Report figures, tables and the HTML report, built from the tidy outputs of the other packages."""

__distribution__ = "clickme-toolkit"  # checked by clickme_analysis.install_check
