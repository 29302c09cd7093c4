"""Storage: the corpus folder of text files and the SQL index beside it."""
