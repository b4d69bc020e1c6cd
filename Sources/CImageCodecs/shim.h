#pragma once
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/*
 * Error-safe entry points for libjpeg and libpng, used by YOPOImage.
 *
 * Both libraries report fatal errors through a callback that must not return (libjpeg's default
 * calls exit()). Swift cannot call setjmp, so each libjpeg / libpng call that may fail is wrapped in
 * a small function here that sets a jump buffer, makes the call and returns 1 on success or 0 after
 * the error callback long-jumped back, with the library's message in `message`. The jump never
 * crosses a Swift frame. After a 0 the only valid call on the context is the matching *_close.
 */

/* ---------------------------------------------------------------------------------------------- */
/* JPEG (libjpeg-turbo)                                                                            */
/* ---------------------------------------------------------------------------------------------- */

typedef struct yopo_jpeg {
    struct jpeg_decompress_struct cinfo; /* first member: the callbacks cast back to yopo_jpeg */
    struct jpeg_error_mgr err;
    jmp_buf jump;
    struct jpeg_progress_mgr progress;
    int hit_end_of_data; /* libjpeg warned JWRN_JPEG_EOF: the data ended before the image did */
    int max_scans;       /* more scans than this are refused (see yopo_jpeg_progress) */
    int too_many_scans;  /* the decode stopped because the file has more than max_scans scans */
    char message[JMSG_LENGTH_MAX];
} yopo_jpeg;

static void yopo_jpeg_error_exit(j_common_ptr cinfo) {
    yopo_jpeg *ctx = (yopo_jpeg *)cinfo;
    (*cinfo->err->format_message)(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

static void yopo_jpeg_emit_message(j_common_ptr cinfo, int level) {
    /* Warnings (level -1) are counted, not printed, as Pillow does; end of data is remembered. */
    if (level < 0) {
        yopo_jpeg *ctx = (yopo_jpeg *)cinfo;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            ctx->hit_end_of_data = 1;
        }
        cinfo->err->num_warnings++;
    }
}

static void yopo_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* libjpeg-turbo's advice against progressive files with an absurd number of scans (libjpeg.txt,
   "progress monitor"; djpeg -maxscans; TurboJPEG's TJFLAG_LIMITSCANS, 500): every scan, even an
   empty one, visits every block of the image, so thousands of 10-byte scans cost minutes. The
   monitor runs at least once per scan while the input is absorbed; past the limit it stops the
   decode through the usual error path. */
static void yopo_jpeg_progress(j_common_ptr cinfo) {
    yopo_jpeg *ctx = (yopo_jpeg *)cinfo;
    if (cinfo->is_decompressor && ctx->cinfo.input_scan_number > ctx->max_scans) {
        ctx->too_many_scans = 1;
        snprintf(ctx->message, sizeof(ctx->message), "more than %d scans", ctx->max_scans);
        longjmp(ctx->jump, 1);
    }
}

/* Creates a decompressor over `data` (which must outlive the context) that refuses files with more
   than `max_scans` scans, and reads the header.
   Returns NULL only when memory is exhausted; *ok is 0 after a header error. */
static inline yopo_jpeg *yopo_jpeg_open(const unsigned char *data, unsigned long size, int max_scans, int *ok) {
    yopo_jpeg *ctx = (yopo_jpeg *)calloc(1, sizeof(yopo_jpeg));
    *ok = 0;
    if (ctx == NULL) {
        return NULL;
    }
    ctx->cinfo.err = jpeg_std_error(&ctx->err);
    ctx->err.error_exit = yopo_jpeg_error_exit;
    ctx->err.emit_message = yopo_jpeg_emit_message;
    ctx->err.output_message = yopo_jpeg_output_message;
    ctx->max_scans = max_scans;
    ctx->progress.progress_monitor = yopo_jpeg_progress;
    if (setjmp(ctx->jump)) {
        return ctx;
    }
    jpeg_create_decompress(&ctx->cinfo);
    ctx->cinfo.progress = &ctx->progress; /* after create: jpeg_create_decompress zeroes cinfo */
    jpeg_mem_src(&ctx->cinfo, data, size);
    jpeg_read_header(&ctx->cinfo, TRUE);
    *ok = 1;
    return ctx;
}

static inline int yopo_jpeg_start(yopo_jpeg *ctx) {
    if (setjmp(ctx->jump)) {
        return 0;
    }
    jpeg_start_decompress(&ctx->cinfo);
    return 1;
}

/* Reads every remaining scanline into `dst`, `stride` bytes apart. */
static inline int yopo_jpeg_read_all(yopo_jpeg *ctx, unsigned char *dst, size_t stride) {
    if (setjmp(ctx->jump)) {
        return 0;
    }
    while (ctx->cinfo.output_scanline < ctx->cinfo.output_height) {
        JSAMPROW row = dst + (size_t)ctx->cinfo.output_scanline * stride;
        jpeg_read_scanlines(&ctx->cinfo, &row, 1);
    }
    return 1;
}

static inline void yopo_jpeg_close(yopo_jpeg *ctx) {
    if (ctx != NULL) {
        jpeg_destroy_decompress(&ctx->cinfo); /* valid in every state, also after an error */
        free(ctx);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* PNG (libpng 1.6, low-level API: the simplified API composites alpha, which we must not do)     */
/* ---------------------------------------------------------------------------------------------- */

typedef struct yopo_png {
    png_structp png;
    png_infop info;
    jmp_buf jump;
    const unsigned char *data;
    size_t size;
    size_t pos;
    int hit_end_of_data; /* a read asked for bytes past the end of the buffer */
    size_t tail_limit;   /* with in_tail: the last position the last row may read up to */
    int in_tail;         /* the last row of the last pass is being read */
    char message[256];
} yopo_png;

static void yopo_png_error(png_structp png, png_const_charp msg) {
    yopo_png *ctx = (yopo_png *)png_get_error_ptr(png);
    strncpy(ctx->message, msg != NULL ? msg : "unknown libpng error", sizeof(ctx->message) - 1);
    ctx->message[sizeof(ctx->message) - 1] = 0;
    longjmp(ctx->jump, 1);
}

static void yopo_png_warning(png_structp png, png_const_charp msg) {
    (void)png; /* ancillary-chunk problems are ignored, as Pillow ignores them */
    (void)msg;
}

static void yopo_png_read_data(png_structp png, png_bytep out, size_t count) {
    yopo_png *ctx = (yopo_png *)png_get_io_ptr(png);
    if (count > ctx->size - ctx->pos) {
        ctx->hit_end_of_data = 1;
        png_error(png, "unexpected end of data");
    }
    if (ctx->in_tail && ctx->pos + count > ctx->tail_limit) {
        png_error(png, "the compressed image data goes on long after the last row");
    }
    memcpy(out, ctx->data + ctx->pos, count);
    ctx->pos += count;
}

/* Creates a reader over `data` (which must outlive the context). NULL when out of memory. */
static inline yopo_png *yopo_png_open(const unsigned char *data, size_t size) {
    yopo_png *ctx = (yopo_png *)calloc(1, sizeof(yopo_png));
    if (ctx == NULL) {
        return NULL;
    }
    ctx->data = data;
    ctx->size = size;
    ctx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, yopo_png_error, yopo_png_warning);
    if (ctx->png == NULL) {
        free(ctx);
        return NULL;
    }
    ctx->info = png_create_info_struct(ctx->png);
    if (ctx->info == NULL) {
        png_destroy_read_struct(&ctx->png, NULL, NULL);
        free(ctx);
        return NULL;
    }
    png_set_read_fn(ctx->png, ctx, yopo_png_read_data);
    return ctx;
}

/* Reads the signature and every chunk up to the first IDAT. */
static inline int yopo_png_read_info(yopo_png *ctx) {
    if (setjmp(ctx->jump)) {
        return 0;
    }
    png_read_info(ctx->png, ctx->info);
    return 1;
}

/* Asks for palette -> RGB and 1/2/4-bit grey -> 8-bit, keeps 16-bit samples and any alpha channel
   as stored (no tRNS expansion, no gamma, no compositing), handles Adam7, then updates the info. */
static inline int yopo_png_prepare(yopo_png *ctx) {
    if (setjmp(ctx->jump)) {
        return 0;
    }
    png_byte color_type = png_get_color_type(ctx->png, ctx->info);
    png_byte bit_depth = png_get_bit_depth(ctx->png, ctx->info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(ctx->png);
    }
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(ctx->png);
    }
    (void)png_set_interlace_handling(ctx->png);
    png_read_update_info(ctx->png, ctx->info);
    return 1;
}

/* Decodes the whole image into `rows` (one pointer per row, each `rowbytes` = png_get_rowbytes long),
   pass by pass as png_read_image does. After the last row libpng inflates whatever compressed data
   is left, to the end of the zlib stream: a small file of compressed zeros after a valid image would
   inflate for minutes. So while the last row is read, at most 16 rows' worth + 1 MiB more file bytes
   may be taken: deflate needs about one row's worth for one row, and even IDAT chunks of one byte
   each (12 bytes of chunk framing per byte) stay inside; the rest can only be such a tail. */
static inline int yopo_png_read_image(yopo_png *ctx, unsigned char **rows, size_t rowbytes) {
    if (setjmp(ctx->jump)) {
        return 0;
    }
    int passes = png_set_interlace_handling(ctx->png);
    png_uint_32 height = png_get_image_height(ctx->png, ctx->info);
    for (int p = 0; p < passes; p++) {
        for (png_uint_32 y = 0; y < height; y++) {
            if (p == passes - 1 && y + 1 == height) {
                size_t room = rowbytes <= (SIZE_MAX - (1u << 20)) / 16 ? 16 * rowbytes + (1u << 20) : SIZE_MAX;
                ctx->tail_limit = ctx->pos <= SIZE_MAX - room ? ctx->pos + room : SIZE_MAX;
                ctx->in_tail = 1;
            }
            png_read_row(ctx->png, rows[y], NULL);
        }
    }
    return 1;
}

static inline void yopo_png_close(yopo_png *ctx) {
    if (ctx != NULL) {
        png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
        free(ctx);
    }
}
