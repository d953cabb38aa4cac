/* node/core/node_config.c: the option table, redis.conf parsing, CONFIG GET/SET
 * values. The one rule: every option is validated by its table entry before
 * it is stored; error texts are Redis 7's. */
#include "node/core/node_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"
#include "common/rc_version.h"
#include "paxos/paxos.h"

typedef enum opt_type_e {
    OPT_INT,    /* int field */
    OPT_LONG,   /* long field */
    OPT_MEM,    /* memory value into a long long / uint64_t field */
    OPT_BOOL,   /* yes/no into an int field */
    OPT_STR,    /* string; "" stores NULL */
    OPT_POLICY, /* maxmemory-policy */
    OPT_LEVEL,  /* loglevel */
    OPT_BIND,   /* one or more addresses */
    OPT_DIR,    /* chdir()s */
    OPT_CONST,  /* accepted for compatibility, fixed value */
} opt_type_t;

enum {
    F_IMMUTABLE = 1 << 0,
    F_U64 = 1 << 1, /* OPT_MEM stored in a uint64_t */
};

typedef struct opt_s {
    const char *name;
    opt_type_t type;
    size_t offset;
    long long min;
    long long max;
    unsigned flags;
    const char *constant; /* OPT_CONST value */
} opt_t;

#define OFF(field) offsetof(node_config_t, field)

static const opt_t options[] = {
    {"port", OPT_INT, OFF(port), 0, 65535, F_IMMUTABLE, NULL},
    {"bind", OPT_BIND, OFF(bind), 0, 0, F_IMMUTABLE, NULL},
    {"requirepass", OPT_STR, OFF(requirepass), 0, 0, 0, NULL},
    {"protected-mode", OPT_BOOL, OFF(protected_mode), 0, 1, 0, NULL},
    {"maxmemory", OPT_MEM, OFF(maxmemory), 0, LLONG_MAX, F_U64, NULL},
    {"maxmemory-policy", OPT_POLICY, OFF(maxmemory_policy), 0, 0, 0, NULL},
    {"maxmemory-samples", OPT_INT, OFF(maxmemory_samples), 1, INT_MAX, 0, NULL},
    {"maxclients", OPT_LONG, OFF(maxclients), 1, INT_MAX, 0, NULL},
    {"timeout", OPT_LONG, OFF(timeout), 0, INT_MAX, 0, NULL},
    {"tcp-keepalive", OPT_LONG, OFF(tcp_keepalive), 0, INT_MAX, 0, NULL},
    /* The keyspace stores lengths in 32 bits. */
    {"proto-max-bulk-len", OPT_MEM, OFF(proto_max_bulk_len), 1024 * 1024, UINT32_MAX, 0, NULL},
    {"client-query-buffer-limit", OPT_MEM, OFF(client_query_buffer_limit), 1024 * 1024, LLONG_MAX,
     0, NULL},
    {"hz", OPT_INT, OFF(hz), 0, INT_MAX, 0, NULL},
    {"loglevel", OPT_LEVEL, OFF(loglevel), 0, 0, 0, NULL},
    {"logfile", OPT_STR, OFF(logfile), 0, 0, F_IMMUTABLE, NULL},
    {"pidfile", OPT_STR, OFF(pidfile), 0, 0, F_IMMUTABLE, NULL},
    {"dir", OPT_DIR, OFF(dir), 0, 0, 0, NULL},
    /* Cluster (node_cluster.c). */
    {"cluster-enabled", OPT_CONST, 0, 0, 0, F_IMMUTABLE, "yes"},
    {"cluster-port", OPT_INT, OFF(cluster_port), 0, 65535, F_IMMUTABLE, NULL},
    {"cluster-secret", OPT_STR, OFF(cluster_secret), 0, 0, F_IMMUTABLE, NULL},
    {"cluster-node-timeout", OPT_LONG, OFF(cluster_node_timeout), 100, 600000, 0, NULL},
    {"cluster-redirects", OPT_BOOL, OFF(cluster_redirects), 0, 1, 0, NULL},
    /* R: what Paxos accepts is what the slot table can place (member/). */
    {"cluster-replicas", OPT_INT, OFF(cluster_replicas), 0, PAXOS_MAX_REPLICAS, F_IMMUTABLE, NULL},
    {"cluster-announce-ip", OPT_STR, OFF(cluster_announce_ip), 0, 0, F_IMMUTABLE, NULL},
    {"cluster-config-file", OPT_STR, OFF(cluster_config_file), 0, 0, F_IMMUTABLE, NULL},
    {"join", OPT_STR, OFF(join), 0, 0, F_IMMUTABLE, NULL},
    /* Slot hand-off (node/migrate). */
    {"cluster-weight", OPT_LONG, OFF(cluster_weight), 1, PAXOS_MAX_WEIGHT, F_IMMUTABLE, NULL},
    {"cluster-leave-timeout", OPT_LONG, OFF(cluster_leave_timeout), 100, 86400000, 0, NULL},
    {"cluster-handoff-timeout", OPT_LONG, OFF(cluster_handoff_timeout), 100, 86400000, 0, NULL},
    {"cluster-handoff-hold", OPT_LONG, OFF(cluster_handoff_hold), 10, 600000, 0, NULL},
    {"cluster-migration-streams", OPT_LONG, OFF(cluster_migration_streams), 1, 64, 0, NULL},
    {"cluster-migration-buffer", OPT_MEM, OFF(cluster_migration_buffer), 1024 * 1024, LLONG_MAX, 0,
     NULL},
    {"cluster-repl-timeout", OPT_LONG, OFF(cluster_repl_timeout), 10, 600000, 0, NULL},
    /* Observability (node/cmd/node_cmd_slowlog.c, node_cmd_stats.c). */
    {"slowlog-log-slower-than", OPT_LONG, OFF(slowlog_log_slower_than), -1, LONG_MAX, 0, NULL},
    {"slowlog-max-len", OPT_LONG, OFF(slowlog_max_len), 0, LONG_MAX, 0, NULL},
    {"latency-monitor-threshold", OPT_LONG, OFF(latency_monitor_threshold), 0, LONG_MAX, 0, NULL},
    {"latency-tracking", OPT_BOOL, OFF(latency_tracking), 0, 1, 0, NULL},
    /* Prometheus endpoint (node/metrics). */
    {"metrics-port", OPT_INT, OFF(metrics_port), 0, 65535, F_IMMUTABLE, NULL},
    {"metrics-bind", OPT_STR, OFF(metrics_bind), 0, 0, F_IMMUTABLE, NULL},
    /* No persistence and one database: fixed values that clients and
     * redis-benchmark ask about. */
    {"daemonize", OPT_CONST, 0, 0, 0, F_IMMUTABLE, "no"},
    {"save", OPT_CONST, 0, 0, 0, F_IMMUTABLE, ""},
    {"appendonly", OPT_CONST, 0, 0, 0, F_IMMUTABLE, "no"},
    {"databases", OPT_CONST, 0, 0, 0, F_IMMUTABLE, "1"},
};

static const char *const policy_names[] = {
    "noeviction", "allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl",
};

static const char *const level_names[] = {"debug", "verbose", "notice", "warning"};

void node_config_defaults(node_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 6379;
    cfg->bind = rc_xstrdup("127.0.0.1");
    cfg->requirepass = NULL;
    cfg->protected_mode = 1;
    cfg->maxmemory = 0;
    cfg->maxmemory_policy = NODE_MM_NOEVICTION;
    cfg->maxmemory_samples = 5;
    cfg->maxclients = 10000;
    cfg->timeout = 0;
    cfg->tcp_keepalive = 300;
    cfg->proto_max_bulk_len = 512LL * 1024 * 1024;
    cfg->client_query_buffer_limit = 1024LL * 1024 * 1024;
    cfg->hz = 10;
    cfg->loglevel = RC_LOG_NOTICE;
    cfg->logfile = NULL;
    cfg->pidfile = NULL;
    cfg->dir = NULL;
    cfg->cluster_port = 0;
    cfg->cluster_node_timeout = 1000;
    cfg->cluster_redirects = 0;
    cfg->cluster_replicas = 1;
    cfg->cluster_weight = 1;
    cfg->cluster_leave_timeout = 60000;
    cfg->cluster_handoff_timeout = 15000;
    cfg->cluster_handoff_hold = 1500;
    cfg->cluster_migration_streams = 4;
    cfg->cluster_migration_buffer = 256LL * 1024 * 1024;
    cfg->cluster_repl_timeout = 2000;
    cfg->slowlog_log_slower_than = 10000;
    cfg->slowlog_max_len = 128;
    cfg->latency_monitor_threshold = 0;
    cfg->latency_tracking = 1;
}

/* The strings a config owns: node_config_free() and node_config_copy()
 * walk this one list, so a new string option is added here only. */
enum {
    NSTRINGS = 10
};

static void string_fields(node_config_t *cfg, char **out[NSTRINGS])
{
    out[0] = &cfg->bind;
    out[1] = &cfg->requirepass;
    out[2] = &cfg->logfile;
    out[3] = &cfg->pidfile;
    out[4] = &cfg->dir;
    out[5] = &cfg->cluster_secret;
    out[6] = &cfg->cluster_announce_ip;
    out[7] = &cfg->cluster_config_file;
    out[8] = &cfg->join;
    out[9] = &cfg->metrics_bind;
}

void node_config_free(node_config_t *cfg)
{
    char **f[NSTRINGS];
    size_t i;

    string_fields(cfg, f);
    for (i = 0; i < NSTRINGS; i++) {
        rc_free(*f[i]);
        *f[i] = NULL;
    }
}

void node_config_copy(node_config_t *dst, const node_config_t *src)
{
    char **f[NSTRINGS];
    size_t i;

    *dst = *src;
    string_fields(dst, f);
    for (i = 0; i < NSTRINGS; i++)
        *f[i] = *f[i] != NULL ? rc_xstrdup(*f[i]) : NULL;
}

int node_config_parse_memory(const char *s, long long *out)
{
    static const struct {
        const char *unit;
        unsigned long long mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1000},
        {"kb", 1024},
        {"m", 1000 * 1000},
        {"mb", 1024 * 1024},
        {"g", 1000ULL * 1000 * 1000},
        {"gb", 1024ULL * 1024 * 1024},
    };
    const char *p = s;
    unsigned long long v = 0;
    size_t i, ndigits = 0;

    while (*p >= '0' && *p <= '9') {
        if (v > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
        p++;
        ndigits++;
    }
    if (ndigits == 0)
        return -1;
    for (i = 0; i < RC_ARRAY_SIZE(units); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            if (v > (unsigned long long)LLONG_MAX / units[i].mul)
                return -1;
            *out = (long long)(v * units[i].mul);
            return 0;
        }
    }
    return -1;
}

static int parse_integer(const char *s, long long *out)
{
    char *end;
    long long v;

    if (*s == '\0' || *s == ' ')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static const opt_t *find_option(const char *name)
{
    size_t i;

    for (i = 0; i < RC_ARRAY_SIZE(options); i++) {
        if (strcasecmp(options[i].name, name) == 0)
            return &options[i];
    }
    return NULL;
}

const char *node_config_canonical(const char *name)
{
    const opt_t *opt = find_option(name);

    return opt != NULL ? opt->name : NULL;
}

static void one_of(char *err, size_t errsize, const char *const *names, size_t n)
{
    size_t i, used;

    used = (size_t)snprintf(err, errsize, "argument(s) must be one of the following: ");
    for (i = 0; i < n && used < errsize; i++)
        used += (size_t)snprintf(err + used, errsize - used, "%s%s", i > 0 ? ", " : "", names[i]);
}

static int lookup_name(const char *const *names, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcasecmp(names[i], s) == 0)
            return (int)i;
    }
    return -1;
}

static int set_string(char **field, const char *value)
{
    rc_free(*field);
    *field = value[0] != '\0' ? rc_xstrdup(value) : NULL;
    return 0;
}

static int set_number(node_config_t *cfg, const opt_t *opt, const char *value, char *err,
                      size_t errsize)
{
    char *base = (char *)cfg + opt->offset;
    long long v;

    if (opt->type == OPT_MEM) {
        if (node_config_parse_memory(value, &v) != 0) {
            snprintf(err, errsize, "argument must be a memory value");
            return RC_EBADCONF;
        }
    } else if (parse_integer(value, &v) != 0) {
        snprintf(err, errsize, "argument couldn't be parsed into an integer");
        return RC_EBADCONF;
    }
    if (v < opt->min || v > opt->max) {
        snprintf(err, errsize, "argument must be between %lld and %lld inclusive", opt->min,
                 opt->max);
        return RC_EBADCONF;
    }
    if (opt->type == OPT_INT)
        *(int *)(void *)base = (int)v;
    else if (opt->type == OPT_LONG)
        *(long *)(void *)base = (long)v;
    else if (opt->flags & F_U64)
        *(uint64_t *)(void *)base = (uint64_t)v;
    else
        *(long long *)(void *)base = v;
    return 0;
}

static int set_bind(node_config_t *cfg, int argc, const char *const *argv, char *err,
                    size_t errsize)
{
    size_t len = 0;
    char *joined;
    int i;

    if (argc > 16) {
        snprintf(err, errsize, "Too many bind addresses specified.");
        return RC_EBADCONF;
    }
    for (i = 0; i < argc; i++) {
        if (argv[i][0] == '\0' || strchr(argv[i], ' ') != NULL) {
            snprintf(err, errsize, "Invalid bind address '%s'", argv[i]);
            return RC_EBADCONF;
        }
        len += strlen(argv[i]) + 1;
    }
    joined = rc_xmalloc(len + 1);
    joined[0] = '\0';
    for (i = 0; i < argc; i++) {
        if (i > 0)
            strcat(joined, " ");
        strcat(joined, argv[i]);
    }
    rc_free(cfg->bind);
    cfg->bind = joined;
    return 0;
}

static int set_dir(node_config_t *cfg, const char *value, char *err, size_t errsize)
{
    char cwd[4096];

    if (chdir(value) != 0) {
        snprintf(err, errsize, "%s", strerror(errno));
        return RC_EBADCONF;
    }
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        snprintf(cwd, sizeof(cwd), "%s", value);
    return set_string(&cfg->dir, cwd);
}

int node_config_set(node_config_t *cfg, const char *name, int argc, const char *const *argv,
                    int runtime, char *err, size_t errsize)
{
    const opt_t *opt = find_option(name);
    char *base;
    int v;

    err[0] = '\0';
    if (opt == NULL || argc < 1 || (opt->type != OPT_BIND && argc != 1))
        return -ENOENT;
    if (runtime && (opt->flags & F_IMMUTABLE)) {
        snprintf(err, errsize, "can't set immutable config");
        return -EPERM;
    }
    base = (char *)cfg + opt->offset;
    switch (opt->type) {
    case OPT_INT:
    case OPT_LONG:
    case OPT_MEM:
        return set_number(cfg, opt, argv[0], err, errsize);
    case OPT_BOOL:
        if (strcasecmp(argv[0], "yes") == 0) {
            *(int *)(void *)base = 1;
        } else if (strcasecmp(argv[0], "no") == 0) {
            *(int *)(void *)base = 0;
        } else {
            snprintf(err, errsize, "argument must be 'yes' or 'no'");
            return RC_EBADCONF;
        }
        return 0;
    case OPT_STR:
        return set_string((char **)(void *)base, argv[0]);
    case OPT_POLICY:
        v = lookup_name(policy_names, RC_ARRAY_SIZE(policy_names), argv[0]);
        if (v < 0) {
            one_of(err, errsize, policy_names, RC_ARRAY_SIZE(policy_names));
            return RC_EBADCONF;
        }
        cfg->maxmemory_policy = (node_mm_policy_t)v;
        return 0;
    case OPT_LEVEL:
        v = lookup_name(level_names, RC_ARRAY_SIZE(level_names), argv[0]);
        if (v < 0) {
            one_of(err, errsize, level_names, RC_ARRAY_SIZE(level_names));
            return RC_EBADCONF;
        }
        cfg->loglevel = v;
        return 0;
    case OPT_BIND:
        return set_bind(cfg, argc, argv, err, errsize);
    case OPT_DIR:
        return set_dir(cfg, argv[0], err, errsize);
    case OPT_CONST:
        if (strcasecmp(argv[0], opt->constant) != 0) {
            snprintf(err, errsize, "argument must be '%s' (not supported by ringcached)",
                     opt->constant);
            return RC_EBADCONF;
        }
        return 0;
    }
    return -ENOENT;
}

const char *node_config_get_nth(const node_config_t *cfg, size_t i, char *buf, size_t size)
{
    const opt_t *opt;
    const char *base;
    const char *s;

    if (i >= RC_ARRAY_SIZE(options))
        return NULL;
    opt = &options[i];
    base = (const char *)cfg + opt->offset;
    switch (opt->type) {
    case OPT_INT:
        snprintf(buf, size, "%d", *(const int *)(const void *)base);
        break;
    case OPT_LONG:
        snprintf(buf, size, "%ld", *(const long *)(const void *)base);
        break;
    case OPT_MEM:
        if (opt->flags & F_U64)
            snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)(const void *)base);
        else
            snprintf(buf, size, "%lld", *(const long long *)(const void *)base);
        break;
    case OPT_BOOL:
        snprintf(buf, size, "%s", *(const int *)(const void *)base ? "yes" : "no");
        break;
    case OPT_STR:
    case OPT_BIND:
        s = *(char *const *)(const void *)base;
        snprintf(buf, size, "%s", s != NULL ? s : "");
        break;
    case OPT_DIR:
        s = cfg->dir;
        if (s == NULL && getcwd(buf, size) != NULL)
            break;
        snprintf(buf, size, "%s", s != NULL ? s : "");
        break;
    case OPT_POLICY:
        snprintf(buf, size, "%s", policy_names[cfg->maxmemory_policy]);
        break;
    case OPT_LEVEL:
        snprintf(buf, size, "%s", level_names[cfg->loglevel & 3]);
        break;
    case OPT_CONST:
        snprintf(buf, size, "%s", opt->constant);
        break;
    }
    return opt->name;
}

/* --- loading --------------------------------------------------------------- */

typedef struct words_s {
    char **v;
    int n;
    int cap;
} words_t;

static void words_add(void *ud, const char *ptr, size_t len)
{
    words_t *w = ud;

    if (w->n == w->cap) {
        w->cap = w->cap == 0 ? 8 : w->cap * 2;
        w->v = rc_xrealloc(w->v, (size_t)w->cap * sizeof(*w->v));
    }
    w->v[w->n] = rc_xmalloc(len + 1);
    memcpy(w->v[w->n], ptr, len);
    w->v[w->n][len] = '\0';
    w->n++;
}

static void words_free(words_t *w)
{
    int i;

    for (i = 0; i < w->n; i++)
        rc_free(w->v[i]);
    rc_free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

static void fatal(char *err, size_t errsize, int lineno, const char *line, size_t linelen,
                  const char *reason)
{
    snprintf(err, errsize,
             "\n*** FATAL CONFIG FILE ERROR (ringcached " RC_VERSION
             ") ***\nReading the configuration file, at line %d\n>>> '%.*s'\n%s",
             lineno, (int)linelen, line, reason);
}

/* Applies one line already split into words. */
static int apply_words(node_config_t *cfg, words_t *w, int lineno, const char *line, size_t linelen,
                       char *err, size_t errsize)
{
    char why[256];
    int rc;

    if (w->n == 0)
        return 0;
    rc = node_config_set(cfg, w->v[0], w->n - 1, (const char *const *)(w->v + 1), 0, why,
                         sizeof(why));
    if (rc == 0)
        return 0;
    if (rc == -ENOENT)
        snprintf(why, sizeof(why), "Bad directive or wrong number of arguments");
    fatal(err, errsize, lineno, line, linelen, why);
    return RC_EBADCONF;
}

int node_config_load_text(node_config_t *cfg, const char *text, size_t len, char *err,
                          size_t errsize)
{
    size_t pos = 0;
    int lineno = 0;

    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t linelen = nl != NULL ? (size_t)(nl - line) : len - pos;
        size_t start = 0, end = linelen;
        words_t w = {0};
        int rc;

        pos += linelen + (nl != NULL ? 1 : 0);
        lineno++;
        while (start < end && (line[start] == ' ' || line[start] == '\t' || line[start] == '\r'))
            start++;
        while (end > start &&
               (line[end - 1] == ' ' || line[end - 1] == '\t' || line[end - 1] == '\r'))
            end--;
        if (start == end || line[start] == '#')
            continue;
        if (rc_split_args(line + start, end - start, words_add, &w) < 0) {
            words_free(&w);
            fatal(err, errsize, lineno, line + start, end - start,
                  "Unbalanced quotes in configuration line");
            return RC_EBADCONF;
        }
        rc = apply_words(cfg, &w, lineno, line + start, end - start, err, errsize);
        words_free(&w);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int load_file(node_config_t *cfg, const char *path, char *err, size_t errsize)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    rc_buf_t text = {0};
    size_t n;
    int rc;

    if (fp == NULL) {
        snprintf(err, errsize, "Fatal error, can't open config file '%s': %s", path,
                 strerror(errno));
        return RC_EBADCONF;
    }
    do {
        n = fread(rc_buf_reserve(&text, 4096), 1, 4096, fp);
        rc_buf_commit(&text, n);
    } while (n > 0);
    if (fp != stdin)
        fclose(fp);
    rc = node_config_load_text(cfg, text.len > 0 ? text.data : "", text.len, err, errsize);
    rc_buf_free(&text);
    return rc;
}

int node_config_load(node_config_t *cfg, int argc, char **argv, const char **config_file, char *err,
                     size_t errsize)
{
    int i = 0, rc, lineno = 0;

    *config_file = NULL;
    if (argc > 0 && (argv[0][0] != '-' || argv[0][1] != '-')) {
        *config_file = argv[0];
        rc = load_file(cfg, argv[0], err, errsize);
        if (rc != 0)
            return rc;
        i = 1;
    }
    /* "--name v1 v2 --other v" as Redis: each --name starts a line. */
    while (i < argc) {
        words_t w = {0};
        char shown[512];
        size_t used = 0;

        lineno++;
        if (argv[i][0] != '-' || argv[i][1] != '-' || argv[i][2] == '\0') {
            snprintf(shown, sizeof(shown), "%s", argv[i]);
            fatal(err, errsize, lineno, shown, strlen(shown),
                  "Bad directive or wrong number of arguments");
            return RC_EBADCONF;
        }
        words_add(&w, argv[i] + 2, strlen(argv[i] + 2));
        for (i++; i < argc && !(argv[i][0] == '-' && argv[i][1] == '-'); i++)
            words_add(&w, argv[i], strlen(argv[i]));
        for (int k = 0; k < w.n && used < sizeof(shown); k++)
            used += (size_t)snprintf(shown + used, sizeof(shown) - used, k == 0 ? "%s" : " \"%s\"",
                                     w.v[k]);
        if (used >= sizeof(shown))
            used = sizeof(shown) - 1;
        rc = apply_words(cfg, &w, lineno, shown, used, err, errsize);
        words_free(&w);
        if (rc != 0)
            return rc;
    }
    return 0;
}
