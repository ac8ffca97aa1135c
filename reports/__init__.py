"""Report figures, tables and the HTML report, built from the tidy outputs of the other packages."""
