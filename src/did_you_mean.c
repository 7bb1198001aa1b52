/* src/did_you_mean.c - the "did you mean" hint for misspelt names.
 *
 * Distance is optimal string alignment (Levenshtein plus transposition of
 * two neighbours, each edit costing 1), case-sensitive, on bytes. It is a
 * hint for typos in short identifiers, not a fuzzy search: words longer
 * than MAX_WORD get no hint.
 */
#include <string.h>

#include "config_file.h"

#define MAX_WORD 64

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Keeps three rows of the usual dynamic programme: the transposition case
 * looks two rows back. */
static size_t osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t rows[3][MAX_WORD + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* Close enough: at most one edit per three characters of the word written
 * (at least one edit), and fewer edits than it has characters, so that
 * "x" never suggests "y". "trian" -> "train" (1 of 1 allowed), "unit" ->
 * "units", "batchsize" -> "batch_size" (1 of 3), but "lr" -> "seed" is not
 * offered. Ties go to the candidate listed first. */
const char *pp_did_you_mean(const char *word, const char *const *candidates,
                            size_t n)
{
    size_t lw = strlen(word);
    if (lw == 0 || lw > MAX_WORD)
        return NULL;
    size_t allowed = lw / 3 > 1 ? lw / 3 : 1;
    if (allowed >= lw)
        allowed = lw - 1;
    const char *best = NULL;
    size_t best_d = allowed + 1;
    for (size_t i = 0; i < n; i++) {
        size_t lc = strlen(candidates[i]);
        if (lc > MAX_WORD)
            continue;
        size_t d = osa_distance(word, lw, candidates[i], lc);
        if (d < best_d) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best;
}
