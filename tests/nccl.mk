# tests/nccl.mk - the nccl transport tests (included from tests/local.mk).
