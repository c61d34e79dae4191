/* SSD's boxes: priors, matching, encoding, hard negative mining, the reference multibox loss, inference
 * with per-class NMS, and Pascal VOC average precision (see gc_detect.h). */
#include "gc_detect.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void gc_ssd_priors(const gc_ssd_layout *L, float *pr) {
  size_t o = 0;
  const double sz = (double)L->image_size;
  for (int k = 0; k < L->nsources; k++) {
    const int f = L->fmap[k];
    const double fk = sz / L->step[k], s = L->min_size[k] / sz, s2 = sqrt(s * (L->max_size[k] / sz));
    for (int i = 0; i < f; i++)
      for (int j = 0; j < f; j++) {
        const double cx = (j + 0.5) / fk, cy = (i + 0.5) / fk;
        double wh[2 + 2 * 2][2] = {{s, s}, {s2, s2}};
        int nb = 2;
        for (int a = 0; a < L->nar[k]; a++) {
          const double r = sqrt((double)L->ar[k][a]);
          wh[nb][0] = s * r, wh[nb][1] = s / r, nb++;
          wh[nb][0] = s / r, wh[nb][1] = s * r, nb++;
        }
        for (int b = 0; b < nb; b++) {
          pr[o++] = clamp01((float)cx);
          pr[o++] = clamp01((float)cy);
          pr[o++] = clamp01((float)wh[b][0]);
          pr[o++] = clamp01((float)wh[b][1]);
        }
      }
  }
}

double gc_det_iou(const float *a, const float *b) {
  double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]), ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0.0;
  double inter = iw * ih, ua = (double)(a[2] - a[0]) * (a[3] - a[1]) + (double)(b[2] - b[0]) * (b[3] - b[1]) - inter;
  return ua > 0 ? inter / ua : 0.0;
}

void gc_det_encode(const float *box, const float *p, float *code) {
  code[0] = (float)(((box[0] + box[2]) / 2.0 - p[0]) / (GC_DET_VAR0 * p[2]));
  code[1] = (float)(((box[1] + box[3]) / 2.0 - p[1]) / (GC_DET_VAR0 * p[3]));
  code[2] = (float)(log((box[2] - box[0]) / (double)p[2]) / GC_DET_VAR1);
  code[3] = (float)(log((box[3] - box[1]) / (double)p[3]) / GC_DET_VAR1);
}

void gc_det_decode(const float *c, const float *p, float *box) {
  double cx = p[0] + c[0] * GC_DET_VAR0 * p[2], cy = p[1] + c[1] * GC_DET_VAR0 * p[3];
  double w = p[2] * exp(c[2] * (double)GC_DET_VAR1), h = p[3] * exp(c[3] * (double)GC_DET_VAR1);
  box[0] = (float)(cx - w / 2), box[1] = (float)(cy - h / 2);
  box[2] = (float)(box[0] + w), box[3] = (float)(box[1] + h);
}

size_t gc_det_match_work(size_t npriors) { return npriors * (sizeof(float) + sizeof(int)); }

int gc_det_match(const float *priors, size_t P, const float *rows, int nrows, int stride, float thresh, float *loc_t,
                 int *conf_t, void *work) {
  float *best_ov = work;
  int *best_gt = (int *)(best_ov + P);
  for (size_t p = 0; p < P; p++) best_ov[p] = 0.0f, best_gt[p] = -1;
  int ngood = 0;
  for (int g = 0; g < nrows; g++) {
    const float *r = rows + (size_t)g * stride;
    if (r[4] < 0 || !(r[2] > r[0]) || !(r[3] > r[1])) continue;
    ngood++;
    for (size_t p = 0; p < P; p++) {
      const float *q = priors + 4 * p;
      float pb[4] = {q[0] - q[2] / 2, q[1] - q[3] / 2, q[0] + q[2] / 2, q[1] + q[3] / 2};
      float ov = (float)gc_det_iou(r, pb);
      if (best_gt[p] < 0 || ov > best_ov[p]) best_ov[p] = ov, best_gt[p] = g;
    }
  }
  /* each ground truth's best prior (the first of equals) is its own, in row order (later rows win) */
  for (int g = 0; g < nrows && ngood; g++) {
    const float *r = rows + (size_t)g * stride;
    if (r[4] < 0 || !(r[2] > r[0]) || !(r[3] > r[1])) continue;
    size_t bp = 0;
    float bo = -1.0f;
    for (size_t p = 0; p < P; p++) {
      const float *q = priors + 4 * p;
      float pb[4] = {q[0] - q[2] / 2, q[1] - q[3] / 2, q[0] + q[2] / 2, q[1] + q[3] / 2};
      float ov = (float)gc_det_iou(r, pb);
      if (ov > bo) bo = ov, bp = p;
    }
    best_ov[bp] = 2.0f;
    best_gt[bp] = g;
  }
  int npos = 0;
  for (size_t p = 0; p < P; p++) {
    if (!ngood || best_ov[p] < thresh) {
      conf_t[p] = 0;
      memset(loc_t + 4 * p, 0, 4 * sizeof *loc_t);
      continue;
    }
    const float *r = rows + (size_t)best_gt[p] * stride;
    conf_t[p] = (int)r[4] + 1;
    gc_det_encode(r, priors + 4 * p, loc_t + 4 * p);
    npos++;
  }
  return npos;
}

/* indices sorted by key descending, ties by the lower index (a total order: every run gives the same result);
 * a merge sort, no global state */
static void sort_desc(const float *keys, size_t *idx, size_t n) {
  if (n < 2) return;
  size_t *tmp = malloc(n * sizeof *tmp);
  if (!tmp) { /* insertion sort: slow but correct */
    for (size_t i = 1; i < n; i++) {
      size_t v = idx[i], j = i;
      while (j > 0 && (keys[idx[j - 1]] < keys[v] || (keys[idx[j - 1]] == keys[v] && idx[j - 1] > v))) idx[j] = idx[j - 1], j--;
      idx[j] = v;
    }
    return;
  }
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, o = lo;
      while (a < mid && b < hi) {
        size_t i = idx[a], j = idx[b];
        int take_a = keys[i] > keys[j] || (keys[i] == keys[j] && i < j);
        tmp[o++] = take_a ? idx[a++] : idx[b++];
      }
      while (a < mid) tmp[o++] = idx[a++];
      while (b < hi) tmp[o++] = idx[b++];
    }
    memcpy(idx, tmp, n * sizeof *idx);
  }
  free(tmp);
}

void gc_det_mine(const float *mine, const int *conf_t, size_t P, int ratio, unsigned char *sel, size_t *order) {
  size_t npos = 0, nneg = 0;
  for (size_t p = 0; p < P; p++) {
    sel[p] = conf_t[p] > 0;
    npos += sel[p];
    if (!sel[p]) order[nneg++] = p;
  }
  size_t want = (size_t)ratio * npos;
  if (want > P - 1) want = P - 1;
  /* positives rank with loss 0 in ssd.pytorch; they are selected anyway, so only negatives compete, and
   * a negative whose loss is below 0 (never: logsumexp >= any element) would rank after them */
  if (want > nneg) want = nneg;
  if (want == 0) return;
  sort_desc(mine, order, nneg);
  for (size_t k = 0; k < want; k++) sel[order[k]] = 1;
}

void gc_det_loss_ref(size_t N, size_t P, size_t C, const double *loc, const double *conf, const float *loc_t,
                     const int *conf_t, int ratio, double *loss_l, double *loss_c, double *dloc, double *dconf) {
  float *mine = malloc(P * sizeof *mine);
  unsigned char *sel = malloc(P);
  size_t *order = malloc(P * sizeof *order), npos = 0;
  double *lse = malloc(P * sizeof *lse);
  double ll = 0, lc = 0;
  for (size_t i = 0; i < N * P; i++) npos += conf_t[i] > 0;
  const double inv = 1.0 / (double)(npos ? npos : 1);
  if (dloc) memset(dloc, 0, N * P * 4 * sizeof *dloc);
  if (dconf) memset(dconf, 0, N * P * C * sizeof *dconf);
  for (size_t n = 0; n < N && mine && sel && order && lse; n++) {
    for (size_t p = 0; p < P; p++) {
      const double *z = conf + (n * P + p) * C;
      double m = z[0];
      for (size_t c = 1; c < C; c++) m = z[c] > m ? z[c] : m;
      double s = 0;
      for (size_t c = 0; c < C; c++) s += exp(z[c] - m);
      lse[p] = m + log(s);
      int t = conf_t[n * P + p];
      mine[p] = t > 0 ? 0.0f : (float)(lse[p] - z[0]);
    }
    gc_det_mine(mine, conf_t + n * P, P, ratio, sel, order);
    for (size_t p = 0; p < P; p++) {
      const size_t q = n * P + p;
      const int t = conf_t[q];
      if (t > 0)
        for (int k = 0; k < 4; k++) {
          double d = loc[4 * q + k] - loc_t[4 * q + k], a = fabs(d);
          ll += a < 1 ? 0.5 * d * d : a - 0.5;
          if (dloc) dloc[4 * q + k] = (a < 1 ? d : (d > 0 ? 1.0 : -1.0)) * inv;
        }
      if (!sel[p]) continue;
      const double *z = conf + q * C;
      lc += lse[p] - z[t];
      if (dconf)
        for (size_t c = 0; c < C; c++) dconf[q * C + c] = (exp(z[c] - lse[p]) - (c == (size_t)t)) * inv;
    }
  }
  *loss_l = ll * inv;
  *loss_c = lc * inv;
  free(mine), free(sel), free(order), free(lse);
}

size_t gc_det_infer_work(size_t P, size_t C) {
  return P * sizeof(size_t) + P * 4 * sizeof(float) + P * C * sizeof(float) + P * sizeof(float) + P;
}

size_t gc_det_infer(const float *loc, const float *conf, const float *priors, size_t P, size_t C, float thresh,
                    int top_k, float nms_iou, gc_detection *out, size_t cap, void *work) {
  /* the indices first: `work` is aligned for any type (malloc), the floats after them stay aligned */
  size_t *idx = work;
  float *boxes = (float *)(void *)(idx + P), *prob = boxes + P * 4, *score = prob + P * C;
  unsigned char *gone = (unsigned char *)(score + P);
  for (size_t p = 0; p < P; p++) {
    gc_det_decode(loc + 4 * p, priors + 4 * p, boxes + 4 * p);
    const float *z = conf + p * C;
    float m = z[0];
    for (size_t c = 1; c < C; c++) m = z[c] > m ? z[c] : m;
    double s = 0;
    for (size_t c = 0; c < C; c++) s += exp((double)z[c] - m);
    for (size_t c = 0; c < C; c++) prob[p * C + c] = (float)(exp((double)z[c] - m) / s);
  }
  size_t total = 0;
  for (size_t c = 1; c < C; c++) {
    size_t n = 0;
    for (size_t p = 0; p < P; p++)
      if (prob[p * C + c] > thresh) score[p] = prob[p * C + c], idx[n++] = p;
      else score[p] = -1.0f;
    if (!n) continue;
    sort_desc(score, idx, n);
    if (top_k > 0 && n > (size_t)top_k) n = (size_t)top_k;
    for (size_t a = 0; a < n; a++) gone[a] = 0;
    for (size_t a = 0; a < n; a++) {
      if (gone[a]) continue;
      const float *ba = boxes + 4 * idx[a];
      if (total < cap) {
        out[total].cls = (int)c - 1;
        out[total].score = score[idx[a]];
        memcpy(out[total].box, ba, sizeof out[total].box);
      }
      total++;
      /* ssd.pytorch's nms: areas without the +1, IoU over the union */
      for (size_t b = a + 1; b < n; b++)
        if (!gone[b] && gc_det_iou(ba, boxes + 4 * idx[b]) > nms_iou) gone[b] = 1;
    }
  }
  return total;
}

/* the devkit's IoU in pixels: widths and heights with + 1 */
static double iou_px(const float *a, const float *b) {
  double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]) + 1.0, ih = fmin(a[3], b[3]) - fmax(a[1], b[1]) + 1.0;
  if (iw <= 0 || ih <= 0) return 0.0;
  double inter = iw * ih;
  double u = ((double)a[2] - a[0] + 1.0) * ((double)a[3] - a[1] + 1.0) + ((double)b[2] - b[0] + 1.0) * ((double)b[3] - b[1] + 1.0) - inter;
  return inter / u;
}

static int by_image(const void *a, const void *b) {
  const gc_det_truth *x = a, *y = b;
  return x->image < y->image ? -1 : x->image > y->image;
}

double gc_voc_ap(const gc_det_scored *dets, size_t nd, const gc_det_truth *gt_in, size_t ngt, int use_07) {
  size_t npos = 0;
  for (size_t g = 0; g < ngt; g++) npos += !gt_in[g].difficult;
  if (npos == 0) return -1.0;
  gc_det_truth *gt = malloc((ngt ? ngt : 1) * sizeof *gt);
  unsigned char *taken = calloc(ngt ? ngt : 1, 1);
  size_t *order = malloc((nd ? nd : 1) * sizeof *order);
  float *sc = malloc((nd ? nd : 1) * sizeof *sc);
  double *rec = malloc((nd ? nd : 1) * sizeof *rec), *prec = malloc((nd + 2) * sizeof *prec);
  double *mrec = malloc((nd + 2) * sizeof *mrec);
  double ap = 0.0;
  if (!gt || !taken || !order || !sc || !rec || !prec || !mrec) {
    ap = -2.0;
    goto done;
  }
  if (ngt) memcpy(gt, gt_in, ngt * sizeof *gt);
  /* a stable order of the ground truth by image (merge of the insertion order) */
  for (size_t i = 1; i < ngt; i++) { /* insertion sort keeps equal images in order */
    gc_det_truth v = gt[i];
    size_t j = i;
    while (j > 0 && by_image(&gt[j - 1], &v) > 0) gt[j] = gt[j - 1], j--;
    gt[j] = v;
  }
  for (size_t d = 0; d < nd; d++) order[d] = d, sc[d] = dets[d].score;
  sort_desc(sc, order, nd);
  double tp = 0, fp = 0;
  size_t nk = 0;
  for (size_t k = 0; k < nd; k++) {
    const gc_det_scored *d = &dets[order[k]];
    size_t lo = 0, hi = ngt; /* first ground truth of the image */
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (gt[mid].image < d->image) lo = mid + 1;
      else hi = mid;
    }
    double best = -INFINITY;
    size_t bj = 0;
    for (size_t j = lo; j < ngt && gt[j].image == d->image; j++) {
      double o = iou_px(d->box, gt[j].box);
      if (o > best) best = o, bj = j;
    }
    if (best > 0.5) {
      if (gt[bj].difficult) continue; /* neither true nor false */
      if (!taken[bj]) taken[bj] = 1, tp += 1;
      else fp += 1;
    } else {
      fp += 1;
    }
    rec[nk] = tp / (double)npos;
    prec[nk] = tp / fmax(tp + fp, 2.220446049250313e-16);
    nk++;
  }
  if (use_07) {
    for (int t = 0; t <= 10; t++) {
      double th = t / 10.0, p = 0.0;
      for (size_t k = 0; k < nk; k++)
        if (rec[k] >= th && prec[k] > p) p = prec[k];
      ap += p / 11.0;
    }
  } else {
    /* mrec = [0, rec, 1], mpre = [0, prec, 0]; the precision envelope; sum where recall changes */
    mrec[0] = 0.0, prec[nk + 1] = 0.0;
    for (size_t k = nk; k > 0; k--) prec[k] = prec[k - 1];
    prec[0] = 0.0;
    for (size_t k = 0; k < nk; k++) mrec[k + 1] = rec[k];
    mrec[nk + 1] = 1.0;
    for (size_t k = nk + 1; k > 0; k--) prec[k - 1] = fmax(prec[k - 1], prec[k]);
    for (size_t k = 0; k + 1 < nk + 2; k++)
      if (mrec[k + 1] != mrec[k]) ap += (mrec[k + 1] - mrec[k]) * prec[k + 1];
  }
done:
  free(gt), free(taken), free(order), free(sc), free(rec), free(prec), free(mrec);
  return ap;
}
