# plugins/nccl.mk - the nccl transport (included from plugins/local.mk).
