/* node/core/node_config.h: redis.conf-style configuration: defaults, the config
 * file and `--name value` arguments, CONFIG GET/SET. Internal to node/.
 * The one rule: a value is validated completely before it is stored, so a
 * failed set leaves the config unchanged. */
#ifndef RC_NODE_NODE_CONFIG_H
#define RC_NODE_NODE_CONFIG_H

#include <stddef.h>

#include "node/core/node.h"

/* Fills 'cfg' with Redis's defaults (port 6379, bind 127.0.0.1, ...). */
void node_config_defaults(node_config_t *cfg);
/* Frees the strings 'cfg' owns. */
void node_config_free(node_config_t *cfg);
/* Makes 'dst' a deep copy of 'src' (its own strings). */
void node_config_copy(node_config_t *dst, const node_config_t *src);

/* Applies `ringcached [config-file] [--name value ...]`: 'argv' excludes the
 * program name. Returns 0, or RC_EBADCONF with a multi-line message naming
 * the bad line in 'err' (Redis's "*** FATAL CONFIG FILE ERROR ***" form).
 * On success '*config_file' is the file given (a pointer into 'argv') or
 * NULL. */
int node_config_load(node_config_t *cfg, int argc, char **argv, const char **config_file, char *err,
                     size_t errsize);

/* Parses the text of a config file (as node_config_load() does for the
 * file). 'origin' names it in messages. */
int node_config_load_text(node_config_t *cfg, const char *text, size_t len, char *err,
                          size_t errsize);

/* Sets option 'name' (any case) from 'argc' values. 'runtime' is 1 for
 * CONFIG SET (immutable options are refused). Returns 0; -ENOENT for an
 * unknown option or wrong number of values; -EPERM for an immutable one;
 * RC_EBADCONF with the reason (Redis's text, e.g. "argument must be a
 * memory value") in 'err'. */
int node_config_set(node_config_t *cfg, const char *name, int argc, const char *const *argv,
                    int runtime, char *err, size_t errsize);

/* Returns the canonical name of a known option 'name' (any case), or NULL. */
const char *node_config_canonical(const char *name);

/* Formats the value of option number 'i' (0..) into 'buf' as CONFIG GET
 * prints it. Returns the option's name, or NULL past the last option. */
const char *node_config_get_nth(const node_config_t *cfg, size_t i, char *buf, size_t size);

/* Parses a memory value like Redis's memtoull: digits with an optional unit
 * b, k, kb, m, mb, g, gb (any case; k = 1000, kb = 1024). Returns 0 or -1. */
int node_config_parse_memory(const char *s, long long *out);

#endif /* RC_NODE_NODE_CONFIG_H */
