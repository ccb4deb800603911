/* test_metrics.c - categories, SFD, Wilson intervals, blind baselines on hand-computed cases. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"
#include "weights.h"

static void test_metrics_categories(void **state)
{
	(void)state;
	assert_int_equal(eng_category_of(0.9, 0.1, 0.8), ENG_CAT_TEXT_SHORTCUT);
	assert_int_equal(eng_category_of(0.8, 0.5, 0.8), ENG_CAT_TEXT_SHORTCUT);
	assert_int_equal(eng_category_of(0.3, 0.7, 0.8), ENG_CAT_NEEDS_IMAGE);
	assert_int_equal(eng_category_of(0.1, 0.15, 0.8), ENG_CAT_SUSPECT_LABEL);
	assert_int_equal(eng_category_of(0.1, 0.3, 0.8), ENG_CAT_AMBIGUOUS);
	assert_int_equal(eng_category_of(0.6, 0.9, 0.8), ENG_CAT_AMBIGUOUS);
	assert_string_equal(eng_category_name(ENG_CAT_NEEDS_IMAGE), "needs-image");
}

static void test_metrics_loss_and_sfc(void **state)
{
	(void)state;
	assert_true(fabs(eng_bt_loss(0) - log(2)) < 1e-12);
	assert_true(fabs(eng_bt_loss(-800) - 800) < 1e-9); /* no overflow */
	assert_true(eng_bt_loss(800) >= 0 && eng_bt_loss(800) < 1e-300);
	assert_true(fabs(eng_sigmoid(0) - 0.5) < 1e-15);
	assert_true(eng_sigmoid(-1000) >= 0 && eng_sigmoid(1000) <= 1);
	/* equal margins: the text and MM losses are equal, so sfc = 1/2 */
	assert_true(fabs(eng_sfc(0.3, 0.3) - 0.5) < 1e-6);
	/* text right, MM wrong -> small; text wrong, MM right -> large */
	assert_true(eng_sfc(5, -5) < 0.01);
	assert_true(eng_sfc(-5, 5) > 0.99);
}

static void test_metrics_wilson(void **state)
{
	(void)state;
	double lo, hi;
	eng_wilson95(50, 100, &lo, &hi);
	assert_true(fabs(lo - 0.4038) < 1e-3 && fabs(hi - 0.5962) < 1e-3);
	eng_wilson95(0, 0, &lo, &hi); /* no data, no interval */
	assert_true(isnan(lo) && isnan(hi));
	double plo, phi; /* the share form is the same formula */
	eng_wilson95_p(0.37, 200, &plo, &phi);
	eng_wilson95(74, 200, &lo, &hi);
	assert_true(plo == lo && phi == hi);
	eng_wilson95(10, 10, &lo, &hi);
	assert_true(hi > 0.9999 && lo > 0.72 && lo < 0.723);
}

static void test_metrics_dataset(void **state)
{
	(void)state;
	/* 4 pairs: text right on 0,1 (mm right on 0 only), text wrong on 2,3 (mm right on 2,3). */
	float pt[] = {0.9f, 0.7f, 0.2f, 0.4f}, pm[] = {0.8f, 0.3f, 0.9f, 0.6f};
	float ps[] = {0.6f, 0.6f, 0.6f, 0.4f};
	uint8_t cat[4];
	for (int i = 0; i < 4; i++)
		cat[i] = (uint8_t)eng_category_of(pt[i], pm[i], 0.8);
	int8_t longer[] = {1, 1, 0, -1}, fmt[] = {0, 0, 0, 1};
	uint8_t img[] = {1, 1, 0, 1};
	eng_dsmetrics m;
	eng_metrics_compute(4, pt, pm, ps, cat, longer, fmt, img, &m);
	assert_int_equal(m.pairs, 4);
	assert_int_equal(m.with_image, 3);
	assert_int_equal(m.without_image, 1);
	assert_true(fabs(m.text_accuracy - 0.5) < 1e-12);
	assert_true(fabs(m.mm_accuracy - 0.75) < 1e-12);
	assert_true(fabs(m.sa_accuracy - 0.75) < 1e-12);
	assert_true(fabs(m.shortcut_rate - 0.25) < 1e-12); /* only pair 0 has p_text >= 0.8 */
	assert_true(fabs(m.mm_acc_text_right - 0.5) < 1e-12);
	assert_true(fabs(m.mm_acc_text_wrong - 1.0) < 1e-12);
	assert_true(fabs(m.sfd - (-0.5)) < 1e-12);
	assert_true(fabs(m.pick_longer - 0.625) < 1e-12); /* 1 + 1 + 0.5 + 0 */
	assert_true(fabs(m.pick_shorter - 0.375) < 1e-12);
	assert_true(fabs(m.pick_more_formatted - 0.625) < 1e-12);
	assert_true(fabs(m.chosen_longer_rate - 0.5) < 1e-12);
	assert_int_equal(m.categories[ENG_CAT_NEEDS_IMAGE], 2);
}

static void test_metrics_sfd_undefined_when_one_side_empty(void **state)
{
	(void)state;
	uint8_t right[] = {1, 0, 1}, tr[] = {1, 1, 1};
	double a, b;
	size_t na, nb;
	double s = eng_sfd(3, right, tr, &a, &b, &na, &nb);
	assert_true(isnan(s));
	assert_int_equal(na, 3);
	assert_int_equal(nb, 0);
	assert_true(fabs(a - 2.0 / 3) < 1e-12);
}

/* The counterfactual image test on 6 hand-made pairs (one masked out):
 *   i  m     ms    mb    true swap blank
 *   0  2.0   -1.0  1.0   R    W    R      flip(swap)
 *   1  1.0   0.5   -0.5  R    R    W      flip(blank)
 *   2  -1.0  -2.0  -1.0  W    W    W
 *   3  0.5   -0.5  0.5   R    W    R      flip(swap)
 *   4  -0.5  1.5   -0.5  W    R    W      flip(swap)
 *   5  masked
 * n = 5; swap flips 3/5, blank flips 1/5; acc true 3/5, swapped 2/5, blank 2/5; drop 1/5;
 * |m - ms| = 3, .5, 1, 1, 2 -> mean 1.5. Discordant: b (true R, swap W) = 2, c = 1.
 * Agresti-Min: b' = 2.5, c' = 1.5, n' = 7: d = 1/7 = 0.142857,
 * se = sqrt(4 - 1/7) / 7 = 0.280566, interval 0.142857 -+ 1.959964 * 0.280566
 * = [-0.407042, 0.692756]. */
static void test_metrics_image_reliance(void **state)
{
	(void)state;
	const float m[] = {2.0f, 1.0f, -1.0f, 0.5f, -0.5f, 9.0f};
	const float ms[] = {-1.0f, 0.5f, -2.0f, -0.5f, 1.5f, -9.0f};
	const float mb[] = {1.0f, -0.5f, -1.0f, 0.5f, -0.5f, -9.0f};
	const uint8_t mask[] = {1, 1, 1, 1, 1, 0};
	eng_imgrel r;
	eng_imgrel_compute(6, m, ms, mb, mask, &r);
	assert_int_equal(r.n, 5);
	assert_true(fabs(r.swap_flip_rate - 0.6) < 1e-12);
	assert_true(fabs(r.blank_flip_rate - 0.2) < 1e-12);
	assert_true(fabs(r.mean_image_effect - 1.5) < 1e-12);
	assert_true(fabs(r.acc_true - 0.6) < 1e-12);
	assert_true(fabs(r.acc_swapped - 0.4) < 1e-12);
	assert_true(fabs(r.acc_blank - 0.4) < 1e-12);
	assert_true(fabs(r.drop - 0.2) < 1e-12);
	assert_true(fabs(r.drop_lo - -0.407042) < 1e-5);
	assert_true(fabs(r.drop_hi - 0.692756) < 1e-5);
	/* nothing tested: NAN figures, n = 0 */
	const uint8_t none[] = {0, 0, 0, 0, 0, 0};
	eng_imgrel_compute(6, m, ms, mb, none, &r);
	assert_int_equal(r.n, 0);
	assert_true(isnan(r.drop) && isnan(r.drop_lo) && isnan(r.swap_flip_rate));
	/* a large, clean effect: the interval excludes 0 and sits around the drop */
	enum { N = 1000 };
	static float a[N], b[N], c[N];
	static uint8_t k[N];
	for (int i = 0; i < N; i++) {
		a[i] = i % 10 < 9 ? 1.0f : -1.0f; /* 90% right with the true image */
		b[i] = i % 10 < 6 ? 1.0f : -1.0f; /* 60% right with a swapped one */
		c[i] = a[i];
		k[i] = 1;
	}
	eng_imgrel_compute(N, a, b, c, k, &r);
	assert_true(fabs(r.drop - 0.3) < 1e-12);
	assert_true(r.drop_lo > 0.25 && r.drop_lo < 0.3 && r.drop_hi > 0.3 && r.drop_hi < 0.35);
	assert_true(r.blank_flip_rate == 0);
}

/* Weighting methods on hand-computed cases. */
static void test_metrics_weights(void **state)
{
	(void)state;
	eng_wmethod m;
	assert_int_equal(eng_wmethod_parse("debias", &m), 0);
	assert_int_equal(m, ENG_WM_DEBIAS);
	assert_int_equal(eng_wmethod_parse("auto", &m), 0);
	assert_int_equal(m, ENG_WM_AUTO);
	assert_int_not_equal(eng_wmethod_parse("paper", &m), 0);
	assert_string_equal(eng_wmethod_name(ENG_WM_JTT), "jtt");
	/* raw weights */
	assert_true(fabs(eng_weight_raw(ENG_WM_DEBIAS, 0.8, NAN, NAN) - 0.2) < 1e-12);
	assert_true(eng_weight_raw(ENG_WM_JTT, 0.8, NAN, 3.0) == 1.0);
	assert_true(eng_weight_raw(ENG_WM_JTT, 0.5, NAN, 3.0) == 3.0); /* 0.5 is not right */
	assert_true(eng_weight_raw(ENG_WM_SFC, 0.8, 0.37, NAN) == 0.37);
	assert_true(eng_weight_raw(ENG_WM_NONE, 0.8, 0.37, 3.0) == 1.0);
	assert_true(fabs(eng_jtt_lambda(6, 2) - 3.0) < 1e-12);
	assert_true(isnan(eng_jtt_lambda(6, 0)));
	/* p_text = .9 .9 .9 .2: debias raw .1 .1 .1 .8 (sum 1.1) -> x 4/1.1 */
	float w[4] = {0.1f, 0.1f, 0.1f, 0.8f};
	eng_weights_normalize(w, 4);
	assert_true(fabs(w[0] - 0.4 / 1.1) < 1e-6 && fabs(w[3] - 3.2 / 1.1) < 1e-6);
	/* longer: chosen longer, longer, shorter, equal; formatted: +, 0, 0, - */
	const int8_t lg[4] = {1, 1, -1, 0}, fm[4] = {1, 0, 0, -1};
	const uint8_t sc[4] = {1, 1, 0, 0};
	eng_wstats st;
	eng_wstats_compute(4, w, lg, fm, sc, &st);
	/* weights a = .3636, d = 2.9091: pick-longer (a + a + 0 + d/2) / 4 */
	double a = 0.4 / 1.1, d = 3.2 / 1.1;
	assert_true(fabs(st.pick_longer - (2 * a + d / 2) / 4) < 1e-6);
	assert_true(fabs(st.pick_more_formatted - (a + a / 2 + a / 2) / 4) < 1e-6);
	assert_true(fabs(st.chosen_longer_rate - 2 * a / 4) < 1e-6);
	double ess = 16 / (3 * a * a + d * d);
	assert_true(fabs(st.ess - ess) < 1e-5 && fabs(st.ess_share - ess / 4) < 1e-6);
	assert_true(fabs(st.mean_w_shortcut - a) < 1e-6 &&
	            fabs(st.mean_w_other - (a + d) / 2) < 1e-6);
	/* uniform weights: Kish's ESS is n */
	float u[4] = {1, 1, 1, 1};
	eng_wstats_compute(4, u, lg, fm, sc, &st);
	assert_true(fabs(st.ess - 4) < 1e-9 && fabs(st.pick_longer - 2.5 / 4) < 1e-12);
	const uint8_t right[4] = {1, 0, 0, 1};
	assert_true(fabs(eng_weighted_share(4, w, right) - (a + d) / 4) < 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_categories),
	    cmocka_unit_test(test_metrics_loss_and_sfc),
	    cmocka_unit_test(test_metrics_wilson),
	    cmocka_unit_test(test_metrics_dataset),
	    cmocka_unit_test(test_metrics_sfd_undefined_when_one_side_empty),
	    cmocka_unit_test(test_metrics_image_reliance),
	    cmocka_unit_test(test_metrics_weights),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
