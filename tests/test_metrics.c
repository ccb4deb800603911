/* test_metrics.c - categories, SFD, Wilson intervals, blind baselines on hand-computed cases. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/metrics.h"

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
	eng_wilson95(0, 0, &lo, &hi);
	assert_true(lo == 0 && hi == 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_categories),
	    cmocka_unit_test(test_metrics_loss_and_sfc),
	    cmocka_unit_test(test_metrics_wilson),
	    cmocka_unit_test(test_metrics_dataset),
	    cmocka_unit_test(test_metrics_sfd_undefined_when_one_side_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
