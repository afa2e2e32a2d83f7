"""The book's pipeline behind tools/book.py, one job a module (paths, toc, staleness, facts, run, status,
retext, repository, new, html). tools/book.py is the command line and re-exports the public names."""
