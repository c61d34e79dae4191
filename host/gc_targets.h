/* The layout of detection targets, shared by the data library (which fills them) and the detection task
 * (which reads them): per image GC_DET_TARGET_DIM floats, the original width and height in pixels, then
 * GC_DET_MAX_BOXES rows of GC_DET_ROW floats (xmin, ymin, xmax, ymax, label, difficult) with coordinates
 * relative to the image in [0, 1] and label the object class from 0 (background excluded); unused rows
 * have label -1. */
#ifndef GC_TARGETS_H
#define GC_TARGETS_H

#define GC_DET_MAX_BOXES 64
#define GC_DET_ROW 6
#define GC_DET_TARGET_DIM (2 + GC_DET_ROW * GC_DET_MAX_BOXES)
#define GC_DET_MAX_CLASSES 64

#endif
