/* Object detection with SSD: prior boxes, matching and encoding, the multibox loss, decoding, per-class
 * non-maximum suppression and Pascal VOC average precision (as ssd.pytorch and the VOC devkit define
 * them; REFERENCE section 5). The detection task (gc_task_detect) puts them together; the commands use
 * the inference half directly.
 *
 * Boxes are (xmin, ymin, xmax, ymax) relative to the image ([0, 1]) unless said otherwise; priors are
 * (cx, cy, w, h). Ground-truth rows are those of the data library's detection targets (gc_data.h):
 * (xmin, ymin, xmax, ymax, label, difficult) with label -1 for an unused row. */
#ifndef GC_DETECT_H
#define GC_DETECT_H

#include <stddef.h>

#include "gc_net.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GC_DET_VAR0 0.1f
#define GC_DET_VAR1 0.2f

/* The layout's npriors x 4 priors (cx, cy, w, h), clamped to [0, 1]. */
void gc_ssd_priors(const gc_ssd_layout *L, float *priors);

/* Intersection over union of two (x0, y0, x1, y1) boxes (0 when either is empty). */
double gc_det_iou(const float *a, const float *b);

/* Match one image's ground truth to the priors (ssd.pytorch's match): each prior takes the ground truth
 * it overlaps most; overlaps under `thresh` make it background (class 0); each ground truth's best prior
 * is forced to it whatever the overlap. Rows with label < 0 and empty boxes (xmax <= xmin or
 * ymax <= ymin) take no part. conf_t[p] = label + 1 or 0; loc_t[p] = the encoding of its box (zeros for
 * background). Returns the number of positives. `work` holds npriors floats + npriors ints. */
int gc_det_match(const float *priors, size_t npriors, const float *rows, int nrows, int row_stride, float thresh,
                 float *loc_t, int *conf_t, void *work);
size_t gc_det_match_work(size_t npriors);
/* Encode a box against a prior with variances 0.1, 0.2 (and back). */
void gc_det_encode(const float *box, const float *prior, float *code);
void gc_det_decode(const float *code, const float *prior, float *box);

/* Hard negative mining of one image: among priors with conf_t == 0, the num_neg = min(ratio * npos,
 * npriors - 1) with the largest mining loss (logsumexp - the background's score) are chosen; ties go to
 * the lower index. sel[p] = 1 for positives and chosen negatives, else 0. `order` holds npriors
 * size_t. */
void gc_det_mine(const float *mine, const int *conf_t, size_t npriors, int ratio, unsigned char *sel, size_t *order);

/* The multibox loss in double precision (the reference for the device's): for N images of npriors
 * priors, loc (N, P, 4) and conf (N, P, C) as the net gives them, targets from gc_det_match. loss_l is
 * smooth L1 summed over positives, loss_c the cross-entropy summed over positives and mined negatives
 * (ratio per positive), both divided by the number of positives in the batch (1 when there is none).
 * dloc and dconf (may be NULL) get the gradients of loss_l + loss_c. */
void gc_det_loss_ref(size_t N, size_t P, size_t C, const double *loc, const double *conf, const float *loc_t,
                     const int *conf_t, int ratio, double *loss_l, double *loss_c, double *dloc, double *dconf);

/* One detection (boxes relative to the image). */
typedef struct gc_detection {
  int cls;        /* object class from 0 (background excluded) */
  float score;
  float box[4];
} gc_detection;

/* Inference on one image (ssd.pytorch's Detect): decode, softmax, then per class: scores > conf_thresh,
 * the top_k best, greedy NMS at nms_iou. Writes at most cap detections (ordered by class, then score)
 * and returns how many there are in all (> cap: the rest were not written). `work` holds
 * gc_det_infer_work(P, C) bytes, aligned for size_t (as malloc gives). */
size_t gc_det_infer_work(size_t npriors, size_t classes);
size_t gc_det_infer(const float *loc, const float *conf, const float *priors, size_t npriors, size_t classes,
                    float conf_thresh, int top_k, float nms_iou, gc_detection *out, size_t cap, void *work);

/* Pascal VOC average precision of one class (the devkit's voc_eval): detections (image, score, box in
 * pixels) against ground truth (image, box in pixels, difficult); a detection is a true positive when
 * its best IoU (areas with the devkit's +1 pixel) with a ground truth of its image is > 0.5 and that
 * ground truth is not difficult and not taken yet; difficult ones are neither true nor false. Returns the
 * AP by the VOC2007 11-point rule (use_07) or by the area under the interpolated curve; -1 when the class
 * has no non-difficult ground truth. Detections are ranked by score, ties by their order in the array. */
typedef struct gc_det_scored {
  size_t image;
  float score;
  float box[4];
} gc_det_scored;
typedef struct gc_det_truth {
  size_t image;
  float box[4];
  int difficult;
} gc_det_truth;
double gc_voc_ap(const gc_det_scored *dets, size_t ndets, const gc_det_truth *gt, size_t ngt, int use_07);

#ifdef __cplusplus
}
#endif
#endif
