exampledir = $(pkgdatadir)/examples
dist_example_DATA = examples/mlp.ini examples/corpus.txt \
	examples/char-vanilla.ini examples/char-gpipe.ini examples/char-1f1b.ini \
	examples/char-interleaved.ini examples/char-zb-h1.ini \
	examples/char-zb-v.ini examples/gpu-char.ini examples/tied-residual.ini \
	examples/gpt-char.ini examples/gpt2-124m.ini
