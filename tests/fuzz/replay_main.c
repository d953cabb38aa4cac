/* tests/fuzz/replay_main.c: runs a libFuzzer target over corpus files without
 * libFuzzer, so gcc and sanitizer builds replay every checked-in input.
 * The one rule: every file given (or found in a directory given) runs once. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv);

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        if (fp != NULL)
            fclose(fp);
        return -1;
    }
    rewind(fp);
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

static int run_path(const char *path, int *count)
{
    struct stat st;
    struct dirent *de;
    DIR *dir;
    char sub[4096];
    int err = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such file %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return run_file(path);
    }
    dir = opendir(path);
    if (dir == NULL)
        return -1;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (run_path(sub, count) != 0)
            err = -1;
    }
    closedir(dir);
    return err;
}

int main(int argc, char **argv)
{
    int i, count = 0, err = 0;

    for (i = 1; i < argc; i++) {
        if (run_path(argv[i], &count) != 0)
            err = 1;
    }
    printf("replayed %d inputs\n", count);
    if (count == 0) {
        fprintf(stderr, "replay: empty corpus\n");
        return 1;
    }
    return err;
}
