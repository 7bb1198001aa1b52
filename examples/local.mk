exampledir = $(pkgdatadir)/examples
dist_example_DATA = examples/mlp.ini
