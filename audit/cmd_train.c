/* cmd_train.c - `mmaudit train`: K fold models on a deterministic sample, to a model file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/cli.h"
#include "outfile.h"
#include "modelfile.h"

static const char *usage_text =
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

int aud_cmd_train(int argc, char **argv)
{
	static const struct option opts[] = {{"db", required_argument, 0, 'd'},
	                                     {"out", required_argument, 0, 'o'},
	                                     {"dataset", required_argument, 0, 'D'},
	                                     {"train-sample", required_argument, 0, 'n'},
	                                     {"folds", required_argument, 0, 'k'},
	                                     {"seed", required_argument, 0, 's'},
	                                     {"epochs", required_argument, 0, 'e'},
	                                     {"threads", required_argument, 0, 't'},
	                                     {"hash-bits", required_argument, 0, 'b'},
	                                     {"features", required_argument, 0, 'X'},
	                                     {"quiet", no_argument, 0, 'q'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	eng_train_export_opts to;
	eng_train_export_opts_default(&to);
	const char *db = NULL, *out = NULL;
	char *datasets = NULL;
	int quiet = 0, c, rc = AUD_EXIT_USAGE;
	long long v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'D':
			if (aud_list_append(&datasets, optarg))
				goto done;
			break;
		case 'n':
			if (aud_parse_int("train", "--train-sample", optarg, 2, INT64_MAX, &v))
				goto done;
			to.train_sample = (size_t)v;
			break;
		case 'k':
			if (aud_parse_int("train", "--folds", optarg, 2, ENG_MODELFILE_MAX_FOLDS,
			                  &v))
				goto done;
			to.folds = (int)v;
			break;
		case 's':
			if (aud_parse_int("train", "--seed", optarg, 0, INT64_MAX, &v))
				goto done;
			to.train.seed = (uint64_t)v;
			break;
		case 'e':
			if (aud_parse_int("train", "--epochs", optarg, 1, 1000, &v))
				goto done;
			to.train.epochs = (int)v;
			break;
		case 't':
			if (aud_parse_int("train", "--threads", optarg, 1, 64, &v))
				goto done;
			to.threads = (int)v;
			break;
		case 'b':
			if (aud_parse_int("train", "--hash-bits", optarg, 12, 24, &v))
				goto done;
			to.text.hash_bits = (int)v;
			break;
		case 'X':
			if (eng_features_parse(optarg, &to.features)) {
				aud_usage_error(
				    "train",
				    "--features must be auto, builtin, embeddings or both");
				goto done;
			}
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			rc = AUD_EXIT_OK;
			goto done;
		default:
			aud_usage_error("train", "unknown option");
			goto done;
		}
	}
	if (!db || !out) {
		aud_usage_error("train", "--db PATH and --out MODEL.mma are required");
		goto done;
	}
	if (optind < argc) {
		aud_usage_error("train", "unexpected argument '%s'", argv[optind]);
		goto done;
	}
	to.command = aud_command_line;
	eng_err err = {0};
	eng_ws *ws = NULL;
	int64_t *ids = NULL;
	size_t n = 0, pairs = 0;
	aud_progress ap;
	aud_progress_init(&ap, quiet);
	eng_progress prog = aud_progress_hook(&ap);
	int e = eng_out_check(out, &err);
	if (!e)
		e = aud_open_datasets(db, datasets, &ws, &ids, &n, &err);
	if (!e)
		e = eng_train_export(ws, ids, n, &to, out, &prog, &pairs, &err);
	aud_progress_done(&ap);
	if (!e) {
		eng_modelfile *mf = NULL;
		e = eng_modelfile_read(out, &mf, &err); /* what we wrote reads back */
		if (!e)
			aud_eprintf("mmaudit train: wrote %s: %d fold models trained on %zu pairs "
			            "(sha256 %.16s...)\n",
			            out, mf->folds, pairs, mf->sha256);
		eng_modelfile_free(mf);
	}
	rc = e ? aud_fail("train", &err) : AUD_EXIT_OK;
	free(ids);
	eng_ws_close(ws);
done:
	free(datasets);
	return rc;
}
