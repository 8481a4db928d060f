"""`corocrawl bench`: the tutorial's comparison and corocrawl's own figures, measured here."""
