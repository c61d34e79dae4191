/* Checkpoints in the safetensors format (8-byte little-endian header length, a JSON header mapping
 * names to dtype/shape/byte offsets, then the raw little-endian data), written atomically (temporary
 * file, fsync, rename, fsync of the folder).
 *
 *   model file:  the net's parameters and batch-norm buffers under their PyTorch state_dict names
 *                (F32; num_batches_tracked as I64): loadable by safetensors.torch.load_file into the
 *                official models and back.
 *   state file:  everything an exact resume needs: the model's tensors (as in the model file), the
 *                optimizer's buffers per parameter ("momentum.<name>", "adam_m.<name>",
 *                "adam_v.<name>") and, in the metadata, the step count, the epoch and a caller-given
 *                string (the run's recipe). It is written before the model file, so a kill between
 *                the two leaves a state that resumes; the trainer then rewrites the model file. */
#ifndef GC_CHECKPOINT_H
#define GC_CHECKPOINT_H

#include "gc_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* epoch: epochs completed, recorded in the metadata (-1: none) */
int gc_ckpt_save_model(gc_ctx *ctx, gc_net *net, long epoch, const char *path);
/* Load weights and buffers by name; every tensor of the net must be present with the right shape and
 * dtype (extra tensors in the file are an error when strict). *epoch (may be NULL) gets the recorded
 * epoch or -1. */
int gc_ckpt_load_model(gc_ctx *ctx, gc_net *net, const char *path, int strict, long *epoch);

/* Validate a safetensors file without a net: header JSON, every F32/I64 tensor's shape against its
 * data_offsets and the file size. *ntensors (may be NULL) counts the tensors. */
int gc_ckpt_inspect(const char *path, int *ntensors);
/* The epoch recorded in a checkpoint's metadata (-1: none). */
int gc_ckpt_epoch(const char *path, long *epoch);

/* A metadata string of a state file ("config": the run's recipe, "epoch", "steps", "gafcl_net"). */
typedef struct gc_ckpt_meta {
  char *key, *value;
} gc_ckpt_meta;
void gc_ckpt_meta_free(gc_ckpt_meta *m, int n);

/* Everything a resumed run needs in one file, written atomically: the model's tensors (as
 * gc_ckpt_save_model), the optimizer's buffers ("momentum.NAME", "adam_m.NAME", "adam_v.NAME"), the step
 * count, the epochs completed and the configuration. */
int gc_ckpt_save_state(gc_ctx *ctx, gc_net *net, gc_optim *opt, long epoch, const char *config_json, const char *path);
/* Restores the optimizer's buffers and step count, and the model where the file holds it (*has_model,
 * may be NULL: then the model is not read; files of older versions hold none); *epoch = epochs completed.
 * A state of another network is refused naming both. meta (may be NULL) receives a malloc'ed copy of
 * every metadata string ("config" among them), *nmeta their count. */
int gc_ckpt_load_state(gc_ctx *ctx, gc_net *net, gc_optim *opt, const char *path, long *epoch, gc_ckpt_meta **meta,
                       int *nmeta, int *has_model);

#ifdef __cplusplus
}
#endif
#endif
