/* cmd_train.c - `mmaudit train`: K fold models on a deterministic sample, to a model file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "outfile.h"
#include "modelfile.h"

static const char usage_text[] =
    "usage: mmaudit train --db PATH --out MODEL.mma [--dataset NAME]... [--train-sample N]\n"
    "                     [--folds K] [--seed S] [--epochs N] [--threads T] [--hash-bits B]\n"
    "                     [--features F] [--quiet]\n\n"
    "Trains the text-only proxy and the multimodal RMs (standard, shortcut-aware) as K fold\n"
    "models on a deterministic sample of the workspace's pairs (the datasets pooled) and writes\n"
    "them, with the feature configuration and a checksum, to MODEL.mma. Then score any shard\n"
    "with `mmaudit score --model MODEL.mma --db SHARD.db` (or `--stdin`): a pair in the sample\n"
    "is scored by the model of its own fold (held out), any other pair by the mean of the K\n"
    "models. Sample membership and folds come from the pair alone (its image's content hash,\n"
    "else its prompt's, hashed with the seed), so every machine computes the same.\n\n"
    "  --db PATH          workspace to train on (required)\n"
    "  --out FILE         model file to write (replaced atomically)\n"
    "  --dataset NAME     dataset(s) to train on (default: all); repeat or comma-separate\n"
    "  --train-sample N   pairs in the training sample (default 1000000; all when fewer)\n"
    "  --folds K          fold models, 2..100 (default 5)\n"
    "  --seed S           seed of the sample, the folds and training (default 1)\n"
    "  --epochs N         epochs (default: auto, as in `mmaudit score`)\n"
    "  --threads T        training threads (default: all cores)\n"
    "  --hash-bits B      text feature hash buckets 2^B, 12..24 (default 18)\n"
    "  --features F       auto, builtin, embeddings or both (as in `mmaudit score`)\n"
    "  --quiet            no progress on stderr\n\n"
    "exit: 0 ok, 2 bad usage or input, 3 system error\n";

/* the options of aud_command.opts (audit/cli.h), in getopt order */
static const char options[] = "db out dataset train-sample=n folds seed epochs threads hash-bits "
                              "features quiet help";

static int train_option(void *self, aud_args *a, int c, const char *arg)
{
	(void)a;
	eng_train_export_opts *to = self;
	long long v;
	if (c != 'n')
		return AUD_NOT_MINE;
	if (aud_parse_int("train", "--train-sample", arg, 2, INT64_MAX, &v))
		return AUD_EXIT_USAGE;
	to->train_sample = (size_t)v;
	return 0;
}

static int train_run(void *self, aud_args *a)
{
	eng_train_export_opts *to = self;
	to->command = aud_command_line;
	size_t pairs = 0;
	int e = eng_train_export(a->ws, a->ids, a->nids, to, a->out, &a->prog, &pairs, &a->err);
	aud_progress_done(&a->ap);
	if (e)
		return e;
	eng_modelfile *mf = NULL;
	e = eng_modelfile_read(a->out, &mf, &a->err); /* what we wrote reads back */
	if (!e)
		aud_eprintf("mmaudit train: wrote %s: %d fold models trained on %zu pairs "
		            "(sha256 %.16s...)\n",
		            a->out, mf->folds, pairs, mf->sha256);
	eng_modelfile_free(mf);
	return e;
}

int aud_cmd_train(int argc, char **argv)
{
	eng_train_export_opts to;
	eng_train_export_opts_default(&to);
	aud_args a = {.to = {&to.train.seed, &to.threads, &to.train.epochs, &to.folds,
	                     &to.text.hash_bits, &to.features}};
	return aud_command_main(
	    &(const aud_command){"train", usage_text, NULL, options,
	                         AUD_F_DB | AUD_F_OUT_FILE | AUD_F_OUT | AUD_F_DATASETS,
	                         "--db PATH and --out MODEL.mma are required", train_option, NULL,
	                         NULL, train_run},
	    &to, &a, argc, argv);
}
