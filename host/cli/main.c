/* main.c — the clconv command line: parse the options, make the filter
 * (refused before any image is read), list the inputs, plan the outputs,
 * run the batch, report. No image logic lives here; each step is a file
 * of host/cli/.
 * It must not grow past its steps: each belongs in its file.
 */
#include "cli/cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    cli_config cfg;
    cli_inputs in;
    cli_plan plan = {NULL, NULL, NULL, 0};
    clconv_filter *filter = NULL;
    run_state s;
    int rc, i;

    memset(&s, 0, sizeof s);
    memset(&in, 0, sizeof in);
    /* A closed stdout (--json | head) is reported, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    rc = cli_parse(argc, argv, &cfg);
    if (rc >= 0) goto cleanup;
    clconv_set_log(cli_on_log, NULL);
    if (cfg.self_test) {
        rc = cli_self_test(&cfg);
        goto cleanup;
    }
    if (cfg.tune) {
        rc = cli_tune(&cfg);
        goto cleanup;
    }
    s.quiet = cfg.quiet;
    s.json = cfg.json;
    s.verify = cfg.job.verify;
    s.verify_seed = cfg.job.verify_seed;
    rc = cli_make_filter(&cfg, &filter);
    if (rc != EXIT_DONE) goto cleanup;
    cfg.job.filter = filter;
    rc = cli_collect_inputs(&cfg, &in);
    if (rc != EXIT_DONE) goto cleanup;
    s.failed = in.nbad;
    rc = cli_plan_outputs(&cfg, &in, &s, &plan);
    if (rc == EXIT_DONE && in.nbad) rc = EXIT_SOME_FAILED;
    if (rc >= 0) goto cleanup;
    rc = cli_run(&cfg, &cfg.job, &plan, &s, filter, &in);
    if (rc != EXIT_DONE) goto cleanup;
    rc = cli_report_end(&s, plan.n, cli_stop_signal != 0);
cleanup:
    if (rc == EXIT_USAGE) cli_report_usage_json(argc, argv);
    if (getenv("CLCONV_DEBUG_FDS")) cli_report_fds();
    cli_plan_free(&plan, in.n);
    if (s.dropped)
        for (i = 0; i < in.n; i++) free(s.dropped[i]);
    free(s.dropped);
    cli_inputs_free(&in);
    cli_config_free(&cfg);
    clconv_filter_destroy(filter);
    return rc;
}
