/* tests/train_models.h - the models the training tests train, CPU and
 * GPU alike: each a [model], its layers and its [data], to which a test
 * adds [pipeline] and [train]. Test-only. */
#ifndef TESTS_TRAIN_MODELS_H
#define TESTS_TRAIN_MODELS_H

enum { CHAIN, RESIDUAL, TIED, GPT, NMODELS };

/* A chain of single-input layers of every kind. */
#define CHAIN_MODEL                                                         \
    "[model]\ninput = 6\n"                                                  \
    "[layer fc1]\ntype = linear\nunits = 16\n"                               \
    "[layer act1]\ntype = gelu\n"                                            \
    "[layer norm]\ntype = layernorm\n"                                       \
    "[layer drop]\ntype = dropout\nrate = 0.2\n"                              \
    "[layer fc2]\ntype = linear\nunits = 12\n"                               \
    "[layer act2]\ntype = tanh\n"                                            \
    "[layer fc3]\ntype = linear\nunits = 3\n"                                \
    "[layer loss]\ntype = softmax_xent\n" MIXTURE_DATA

/* A graph: residuals, and skips over several layers, so over stage
 * boundaries as the partition falls (fc1 and the input itself travel to
 * the end, passing through every stage between). */
#define RESIDUAL_MODEL                                                      \
    "[model]\ninput = 6\n"                                                  \
    "[layer fc1]\ntype = linear\nunits = 16\n"                               \
    "[layer act1]\ntype = gelu\n"                                            \
    "[layer fc2]\ntype = linear\nunits = 16\n"                               \
    "[layer res1]\ntype = add\ninputs = fc2, fc1\n"                          \
    "[layer norm]\ntype = layernorm\n"                                       \
    "[layer fc3]\ntype = linear\nunits = 16\n"                               \
    "[layer act2]\ntype = tanh\n"                                            \
    "[layer res2]\ntype = add\ninputs = act2, res1, fc1\n"                   \
    "[layer cat]\ntype = concat\ninputs = res2, input\n"                     \
    "[layer drop]\ntype = dropout\nrate = 0.2\n"                              \
    "[layer out]\ntype = linear\nunits = 3\n"                                \
    "[layer loss]\ntype = softmax_xent\n" MIXTURE_DATA

/* A language model whose output layer (TIED_HEAD) uses the embedding's
 * table (TIED_EMBED's: the first stage's and the last's, so a copy on each
 * rank, their gradients summed before every step), with residuals
 * between. */
#define TIED_EMBED 0
#define TIED_HEAD 8
#define TIED_MODEL                                                          \
    "[model]\ninput = 8\ninput_type = int\n"                                 \
    "[layer embed]\ntype = embedding\nvocab = 16\ndim = 12\n"                 \
    "[layer fc1]\ntype = linear\nunits = 12\n"                               \
    "[layer act1]\ntype = gelu\n"                                            \
    "[layer res1]\ntype = add\ninputs = act1, embed\n"                       \
    "[layer norm]\ntype = layernorm\n"                                       \
    "[layer fc2]\ntype = linear\nunits = 12\n"                               \
    "[layer act2]\ntype = tanh\n"                                            \
    "[layer res2]\ntype = add\ninputs = act2, res1\n"                        \
    "[layer head]\ntype = linear\nunits = 16\nbias = false\n"                 \
    "share = weight:embed.weight\n"                                          \
    "[layer loss]\ntype = softmax_xent\n"                                    \
    "[data]\nsource = synthetic\ntask = sequence\nvocab = 16\nlength = 8\n"

/* A GPT of two blocks, written as a [repeat] group: token and position
 * embeddings, causal attention over 2 heads, the MLP's first linear with
 * its GELU fused, residuals, and the head tied to the token table
 * (GPT_EMBED's, used by GPT_HEAD). */
#define GPT_EMBED 0
#define GPT_HEAD 20
#define GPT_MODEL                                                           \
    "[model]\ninput = 8\ninput_type = int\n"                                 \
    "[layer embed]\ntype = embedding\nvocab = 16\ndim = 12\nstd = 0.1\n"      \
    "positions = true\n"                                                    \
    "[repeat h]\ncount = 2\n"                                               \
    "[layer h.ln_1]\ntype = layernorm\n"                                     \
    "[layer h.qkv]\ntype = linear\nunits = 36\n"                             \
    "[layer h.attn]\ntype = attention\nheads = 2\n"                          \
    "[layer h.proj]\ntype = linear\nunits = 12\n"                            \
    "[layer h.res_1]\ntype = add\ninputs = h.proj, h\n"                      \
    "[layer h.ln_2]\ntype = layernorm\n"                                     \
    "[layer h.fc]\ntype = linear\nunits = 24\nactivation = gelu\n"           \
    "[layer h.mlp]\ntype = linear\nunits = 12\n"                             \
    "[layer h.res_2]\ntype = add\ninputs = h.mlp, h.res_1\n"                 \
    "[layer ln_f]\ntype = layernorm\n"                                       \
    "[layer head]\ntype = linear\nunits = 16\nbias = false\n"                 \
    "share = weight:embed.weight\n"                                          \
    "[layer loss]\ntype = softmax_xent\n"                                    \
    "[data]\nsource = synthetic\ntask = sequence\nvocab = 16\nlength = 8\n"

#define MIXTURE_DATA                                                        \
    "[data]\nsource = synthetic\ntask = mixture\nclasses = 3\nfeatures = 6\n"

static const char *const models[NMODELS] = {CHAIN_MODEL, RESIDUAL_MODEL,
                                            TIED_MODEL, GPT_MODEL};

#endif
