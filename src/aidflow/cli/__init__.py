"""The command line: parse, call a service, print (the only package that imports click)."""
