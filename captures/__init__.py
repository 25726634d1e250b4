"""Bundled sample captures, shipped in the wheel as ``auditor._captures``.

A regular package (this file) so that ``importlib.resources.files`` returns a
real directory once installed; a namespace package gives a MultiplexedPath
that ``auditor.resources`` cannot turn into a folder. See README.md.
"""
