/* Private helpers shared by the files of lib/io. */
#ifndef TG_IO_INTERNAL_H
#define TG_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "tg/io.h"

/* Like strdup, but sets TT_ENOMEM on failure. */
char *tt_io_strdup(const char *s);

/* A hash of names for constant-time lookup (set.c): slots hold index + 1
 * into a caller's array of names (0: empty), open addressing, at most half
 * full. Sets and text headers use it, so that 10^6 columns read in linear time. */
typedef struct {
    int *slots;
    size_t nslots;
} tt_name_hash;
/* The index of name (n bytes) among names[], or -1. */
int tt_name_hash_find(const tt_name_hash *h, char *const *names, const char *name, size_t n);
/* Adds names[index] (count = index + 1 names so far); TT_ENOMEM on failure. */
tt_status tt_name_hash_add(tt_name_hash *h, char *const *names, int index);
void tt_name_hash_free(tt_name_hash *h);

/* HDF5 (h5.c). */
bool tt_h5_signature_at(const void *buf, size_t len, size_t *offset);
tt_tensor_set *tt_h5_read_image(const void *buf, size_t len, const char *label);

/* Text (text.c). */
tt_tensor_set *tt_text_read(const char *buf, size_t len, const char *label);
/* Writes set as text of format fmt (CSV, TSV or TEXT) to f; label names f in messages. */
tt_status tt_text_write(const tt_tensor_set *set, tt_file_format fmt, FILE *f, const char *label);

/* A sink that checks every fwrite (source.c). */
typedef struct {
    FILE *f;
    const char *label;
    char *buf;
    size_t len, cap;
    int err; /* errno of the first failure, 0 if none */
} tt_io_sink;
void tt_sink_init(tt_io_sink *s, FILE *f, const char *label);
void tt_sink_write(tt_io_sink *s, const void *data, size_t n);
void tt_sink_puts(tt_io_sink *s, const char *str);
void tt_sink_putc(tt_io_sink *s, char c);
/* Flushes to the FILE and fflushes it; frees the buffer; TT_EIO with a message on failure. */
tt_status tt_sink_finish(tt_io_sink *s);

#endif
