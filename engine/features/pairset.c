/* pairset.c - the CSR matrix of text-difference rows plus each pair's image row.
 *
 * Rows are appended one at a time; each row's entries are sorted by column in place (heapsort,
 * no scratch memory), duplicate columns are summed and zeros dropped. All size arithmetic is
 * size_t and checked before allocation. Does not compute features (textfeat.c) nor train. */
#include "pairset.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* a * b into *out; 0 on success, -1 on overflow. */
static int mul_ok(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

/* Grows *p (elements of size sz) to hold at least need elements; *cap is updated. */
static int grow(void **p, size_t sz, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return -1;
		nc *= 2;
	}
	size_t bytes;
	if (mul_ok(nc, sz, &bytes))
		return -1;
	void *q = realloc(*p, bytes);
	if (!q)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

int eng_pairset_init(eng_pairset *ps, uint32_t text_dim, uint32_t img_dim, eng_err *err)
{
	assert(ps);
	memset(ps, 0, sizeof *ps);
	if (text_dim == 0)
		return eng_err_set(err, ENG_EINPUT, "pairset: text_dim must be >= 1");
	ps->text_dim = text_dim;
	ps->img_dim = img_dim;
	ps->row_cap = 64;
	ps->rowptr = malloc(sizeof(size_t) * (ps->row_cap + 1));
	ps->img_of = malloc(sizeof(int32_t) * ps->row_cap);
	if (!ps->rowptr || !ps->img_of) {
		eng_pairset_free(ps);
		return eng_err_set(err, ENG_ENOMEM, "pairset: out of memory");
	}
	ps->rowptr[0] = 0;
	return 0;
}

static void sift_down(uint32_t *c, float *v, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && c[child + 1] > c[child])
			child++;
		if (c[root] >= c[child])
			return;
		uint32_t tc = c[root];
		c[root] = c[child];
		c[child] = tc;
		float tv = v[root];
		v[root] = v[child];
		v[child] = tv;
		root = child;
	}
}

/* Sorts the parallel arrays c, v (k entries) by c ascending. */
static void sort_entries(uint32_t *c, float *v, size_t k)
{
	if (k < 2)
		return;
	for (size_t i = k / 2; i-- > 0;)
		sift_down(c, v, i, k);
	for (size_t end = k - 1; end > 0; end--) {
		uint32_t tc = c[0];
		c[0] = c[end];
		c[end] = tc;
		float tv = v[0];
		v[0] = v[end];
		v[end] = tv;
		sift_down(c, v, 0, end);
	}
}

/* Stable sort of (c, v) by c through 64-bit keys (column high, value bits low): insertion sort
 * for short rows, else LSD radix on the column bits, 8 bits a pass. Scratch is on the stack up to
 * STACK entries (a pair row is usually shorter), else allocated. 0 when it cannot allocate it (the
 * caller then heap-sorts). */
static int radix_entries(uint32_t *c, float *v, size_t k)
{
	enum { SMALL = 48, STACK = 512 };
	uint64_t stack[2 * STACK], *a = stack, *b = stack + STACK, *heap = NULL;
	if (k > STACK) {
		if (!(heap = malloc(2 * k * sizeof *heap)))
			return 0;
		a = heap;
		b = heap + k;
	}
	uint32_t maxc = 0;
	for (size_t j = 0; j < k; j++) {
		uint32_t u;
		memcpy(&u, &v[j], sizeof u);
		a[j] = (uint64_t)c[j] << 32 | u;
		maxc = c[j] > maxc ? c[j] : maxc;
	}
	if (k <= SMALL) {
		for (size_t j = 1; j < k; j++) {
			uint64_t x = a[j];
			size_t i = j;
			for (; i > 0 && (a[i - 1] >> 32) > (x >> 32); i--)
				a[i] = a[i - 1];
			a[i] = x;
		}
	} else {
		for (int shift = 32; shift < 64 && (maxc >> (shift - 32)) != 0; shift += 8) {
			size_t cnt[257] = {0};
			for (size_t j = 0; j < k; j++)
				cnt[((a[j] >> shift) & 0xff) + 1]++;
			for (int d = 0; d < 256; d++)
				cnt[d + 1] += cnt[d];
			for (size_t j = 0; j < k; j++)
				b[cnt[(a[j] >> shift) & 0xff]++] = a[j];
			uint64_t *t = a;
			a = b;
			b = t;
		}
	}
	for (size_t j = 0; j < k; j++) {
		uint32_t u = (uint32_t)a[j];
		c[j] = (uint32_t)(a[j] >> 32);
		memcpy(&v[j], &u, sizeof u);
	}
	free(heap);
	return 1;
}

size_t eng_pairset_canon_row(uint32_t *c, float *v, size_t k)
{
	size_t j = 1;
	while (j < k && c[j - 1] < c[j] && v[j - 1] != 0)
		j++;
	if (j >= k && (k == 0 || v[k - 1] != 0))
		return k; /* already canonical */
	/* the sorts are deterministic: the row comes out the same whichever thread does this */
	if (!radix_entries(c, v, k))
		sort_entries(c, v, k);
	size_t out = 0;
	for (j = 0; j < k;) {
		uint32_t cj = c[j];
		float s = 0;
		for (; j < k && c[j] == cj; j++)
			s += v[j];
		if (s != 0) {
			c[out] = cj;
			v[out] = s;
			out++;
		}
	}
	return out;
}

/* 1 when (c, v) is already in canonical form: columns strictly increasing, no zero value. */
static int is_canon(const uint32_t *c, const float *v, size_t k)
{
	for (size_t j = 0; j < k; j++)
		if (v[j] == 0 || (j > 0 && c[j - 1] >= c[j]))
			return 0;
	return 1;
}

int eng_pairset_add_row(eng_pairset *ps, const uint32_t *col, const float *val, size_t k,
                        int32_t img_row, eng_err *err)
{
	assert(ps && ps->rowptr && (k == 0 || (col && val)));
	for (size_t j = 0; j < k; j++) {
		if (col[j] >= ps->text_dim)
			return eng_err_set(err, ENG_EINPUT,
			                   "pairset: column %u out of range (text_dim %u)",
			                   (unsigned)col[j], (unsigned)ps->text_dim);
		if (!isfinite(val[j]))
			return eng_err_set(err, ENG_EINPUT, "pairset: non-finite value in row %zu",
			                   ps->n);
	}
	if (img_row < -1)
		return eng_err_set(err, ENG_EINPUT, "pairset: image row %d invalid", (int)img_row);
	if (ps->n + 1 > ps->row_cap) {
		/* rowptr holds row_cap + 1 entries, img_of row_cap; row_cap grows only when both
		 * reallocations succeed (a larger block left behind on failure is harmless). */
		size_t nc, b1, b2;
		if (mul_ok(ps->row_cap, 2, &nc) || mul_ok(nc + 1, sizeof(size_t), &b1) ||
		    mul_ok(nc, sizeof(int32_t), &b2))
			return eng_err_set(err, ENG_ENOMEM, "pairset: too many rows");
		size_t *rp = realloc(ps->rowptr, b1);
		if (!rp)
			return eng_err_set(err, ENG_ENOMEM, "pairset: out of memory (%zu rows)",
			                   nc);
		ps->rowptr = rp;
		int32_t *io = realloc(ps->img_of, b2);
		if (!io)
			return eng_err_set(err, ENG_ENOMEM, "pairset: out of memory (%zu rows)",
			                   nc);
		ps->img_of = io;
		ps->row_cap = nc;
	}
	/* the row in canonical form: the input itself when it already is (textfeat's rows are),
	 * else a sorted copy */
	uint32_t *tc = NULL;
	float *tv = NULL;
	if (!is_canon(col, val, k)) {
		size_t bc, bv;
		if (mul_ok(k, sizeof *tc, &bc) || mul_ok(k, sizeof *tv, &bv) ||
		    !(tc = malloc(bc)) || !(tv = malloc(bv))) {
			free(tc);
			return eng_err_set(err, ENG_ENOMEM, "pairset: out of memory (%zu entries)",
			                   k);
		}
		memcpy(tc, col, bc);
		memcpy(tv, val, bv);
		k = eng_pairset_canon_row(tc, tv, k);
		col = tc;
		val = tv;
	}
	size_t esc = 0; /* escapes: one where a column's high 16 bits differ from the last's */
	for (uint32_t j = 0, hi = 0; j < k; j++)
		if (col[j] >> 16 != hi) {
			hi = col[j] >> 16;
			esc++;
		}
	int rc = 0;
	size_t need = 0, cc = ps->cap, cv = ps->cap;
	void *pc = ps->col, *pv = ps->val;
	if (k + esc > SIZE_MAX - ps->nnz) {
		rc = eng_err_set(err, ENG_ENOMEM, "pairset: too many entries");
		goto done;
	}
	need = ps->nnz + k + esc;
	if (grow(&pc, sizeof(uint16_t), &cc, need)) {
		rc = eng_err_set(err, ENG_ENOMEM, "pairset: out of memory (%zu entries)", need);
		goto done;
	}
	ps->col = pc;
	if (grow(&pv, sizeof(float), &cv, need)) { /* col may have grown: cap stays the smaller */
		rc = eng_err_set(err, ENG_ENOMEM, "pairset: out of memory (%zu entries)", need);
		goto done;
	}
	ps->val = pv;
	assert(cc == cv);
	ps->cap = cc;
	uint16_t *c = ps->col + ps->nnz;
	float *v = ps->val + ps->nnz;
	for (uint32_t j = 0, hi = 0; j < k; j++) {
		if (col[j] >> 16 != hi) {
			hi = col[j] >> 16;
			*c++ = (uint16_t)hi;
			*v++ = eng_pairset_esc_value();
		}
		*c++ = (uint16_t)(col[j] & 0xffff);
		*v++ = val[j];
	}
	ps->nnz = need;
	ps->img_of[ps->n] = img_row;
	ps->n++;
	ps->rowptr[ps->n] = ps->nnz;
done:
	free(tc);
	free(tv);
	return rc;
}

size_t eng_pairset_row_len(const eng_pairset *ps, size_t r)
{
	size_t n = 0;
	for (eng_pairset_iter it = eng_pairset_row(ps, r); eng_pairset_next(&it);)
		n++;
	return n;
}

int eng_pairset_set_images(eng_pairset *ps, const float *img, size_t n_img, eng_err *err)
{
	assert(ps);
	if (n_img > 0 && (!img || ps->img_dim == 0))
		return eng_err_set(err, ENG_EINPUT, "pairset: images given but no image dimension");
	if (n_img > (size_t)INT32_MAX)
		return eng_err_set(err, ENG_EINPUT, "pairset: too many images (%zu)", n_img);
	size_t cnt, bytes;
	if (mul_ok(n_img, ps->img_dim, &cnt) || mul_ok(cnt, sizeof(float), &bytes))
		return eng_err_set(err, ENG_ENOMEM, "pairset: image table too large");
	float *t = NULL;
	if (bytes) {
		t = malloc(bytes);
		if (!t)
			return eng_err_set(err, ENG_ENOMEM, "pairset: out of memory (%zu images)",
			                   n_img);
		memcpy(t, img, bytes);
	}
	free(ps->img);
	ps->img = t;
	ps->n_img = n_img;
	return 0;
}

void eng_pairset_reset(eng_pairset *ps)
{
	assert(ps && ps->rowptr);
	ps->n = 0;
	ps->nnz = 0;
	ps->rowptr[0] = 0;
	free(ps->img);
	ps->img = NULL;
	ps->n_img = 0;
}

void eng_pairset_free(eng_pairset *ps)
{
	if (!ps)
		return;
	free(ps->rowptr);
	free(ps->col);
	free(ps->val);
	free(ps->img_of);
	free(ps->img);
	memset(ps, 0, sizeof *ps);
}
