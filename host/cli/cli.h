/* cli.h — pieces of the command line that are not options: the input list
 * (files, directories, list files, shards) and output naming. Not part of
 * the library.
 */
#ifndef CLCONV_CLI_H
#define CLCONV_CLI_H

#define CLI_ERR_MAX 4096

typedef struct cli_input {
    char *path; /* as it will be opened */
    char *rel;  /* the name it keeps below an output directory */
} cli_input;

typedef struct cli_inputs {
    cli_input *v;
    int n, cap;
    int had_dir; /* a directory was given: outputs go to a directory */
} cli_inputs;

/* A file (kept even when missing: it fails on its own), a directory (its
 * images; with `recursive`, those below too, their relative paths kept) or
 * "-" (paths on stdin, one a line). Returns 0, or -1 with err set. */
int cli_inputs_add_arg(cli_inputs *in, const char *arg, int recursive, char *err);
/* Paths from a list file ("-": stdin), one a line; '#' lines are skipped. */
int cli_inputs_add_list(cli_inputs *in, const char *list, char *err);
/* Sorts by path and drops repeated paths. */
void cli_inputs_sort(cli_inputs *in);
/* Keeps the inputs whose sorted position k has k % count == index. */
void cli_inputs_shard(cli_inputs *in, int index, int count);
void cli_inputs_free(cli_inputs *in);
/* Nonzero for the extensions clconv reads when it walks a directory. */
int cli_is_image_name(const char *name);

/* "I/N" or "auto" (Slurm job arrays; Kubernetes indexed jobs with
 * CLCONV_SHARD_COUNT). Returns 0, or -1 with err set. */
int cli_shard_parse(const char *s, int *index, int *count, char *err);

/* dir/<rel without its extension>.<ext>, malloc'd. */
char *cli_output_name(const char *dir, const char *rel, const char *ext);
/* Creates the directories above `path`. */
int cli_make_parents(const char *path, char *err);

#endif
