#!/usr/bin/env bash
# Draws issue 15's cost-against-work curves from compare-cpu.sh's lines (run it with BATCHES="16 64 256"):
# images per second against the batch, IlgpuGan and libtorch, for each GAN workload measured at several batches.
#   bench/batch-curve.sh [RESULTS] [SVG]   (default: bench/results/cpu-<today>.txt -> bench/results/batch-curve-<today>.svg)
# Prints a Markdown table (each figure the mean of the rounds' medians, and IlgpuGan's images/s over libtorch's)
# and writes the SVG: batch on a log scale, images/s on a linear one, solid IlgpuGan, dashed libtorch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
results=${1:-$root/bench/results/cpu-$(date -u +%Y-%m-%d).txt}
svg=${2:-$root/bench/results/batch-curve-$(date -u +%Y-%m-%d).svg}
[ -f "$results" ] || { echo "batch-curve: $results: no such file" >&2; exit 1; }

awk -v svg="$svg" -v src="$(basename "$results")" '
function field(name,   i) { for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) return substr($i, length(name) + 2); return "" }
/^(ilgpugan|torchsharp) W-/ && / batch=/ {
    impl = $1; w = $2; b = field("batch") + 0; v = field("images_per_s") + 0
    key = impl SUBSEP w SUBSEP b; sum[key] += v; n[key]++
    if (!(w in seenW)) { seenW[w] = 1; ws[++nw] = w }
    if (!(b in seenB)) { seenB[b] = 1; bs[++nb] = b }
}
END {
    if (nw == 0) { print "batch-curve: no lines with batch= in the results" > "/dev/stderr"; exit 1 }
    # batches ascending
    for (i = 1; i <= nb; i++) for (j = i + 1; j <= nb; j++) if (bs[j] < bs[i]) { t = bs[i]; bs[i] = bs[j]; bs[j] = t }
    print "| workload | batch | IlgpuGan images/s | libtorch images/s | IlgpuGan / libtorch |"
    print "| --- | ---: | ---: | ---: | ---: |"
    ymax = 0
    for (i = 1; i <= nw; i++) for (j = 1; j <= nb; j++) {
        a = "ilgpugan" SUBSEP ws[i] SUBSEP bs[j]; t = "torchsharp" SUBSEP ws[i] SUBSEP bs[j]
        if (!(a in n) || !(t in n)) continue
        ia = sum[a] / n[a]; it = sum[t] / n[t]
        printf "| %s | %d | %.0f | %.0f | %.2f |\n", ws[i], bs[j], ia, it, ia / it
        if (ia > ymax) ymax = ia; if (it > ymax) ymax = it
    }
    # one panel per workload, side by side
    W = 360; H = 260; L = 60; R = 20; T = 40; B = 45
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W * nw, H + 20 > svg
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n" > svg
    lo = log(bs[1]) / log(2); hi = log(bs[nb]) / log(2); if (hi == lo) hi = lo + 1
    for (i = 1; i <= nw; i++) {
        x0 = (i - 1) * W; pmax = 0
        for (j = 1; j <= nb; j++) for (k = 0; k < 2; k++) {
            key = (k ? "torchsharp" : "ilgpugan") SUBSEP ws[i] SUBSEP bs[j]
            if (key in n && sum[key] / n[key] > pmax) pmax = sum[key] / n[key]
        }
        pmax *= 1.15
        printf "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">%s: images/s against batch</text>\n", x0 + L, ws[i] > svg
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0 + L, H - B, x0 + W - R, H - B > svg
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0 + L, T, x0 + L, H - B > svg
        for (g = 0; g <= 4; g++) {
            yv = pmax * g / 4; yy = H - B - (H - B - T) * g / 4
            printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", x0 + L, yy, x0 + W - R, yy, x0 + L - 4, yy + 4, yv > svg
        }
        for (j = 1; j <= nb; j++) {
            xx = x0 + L + (W - L - R) * (log(bs[j]) / log(2) - lo) / (hi - lo)
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", xx, H - B + 15, bs[j] > svg
        }
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">batch (log scale)</text>\n", x0 + L + (W - L - R) / 2, H - B + 30 > svg
        for (k = 0; k < 2; k++) {
            impl = k ? "torchsharp" : "ilgpugan"; pts = ""
            for (j = 1; j <= nb; j++) {
                key = impl SUBSEP ws[i] SUBSEP bs[j]; if (!(key in n)) continue
                xx = x0 + L + (W - L - R) * (log(bs[j]) / log(2) - lo) / (hi - lo); yy = H - B - (H - B - T) * (sum[key] / n[key]) / pmax
                pts = pts sprintf("%.1f,%.1f ", xx, yy)
                printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", xx, yy, k ? "#1f77b4" : "#d62728" > svg
            }
            printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", pts, k ? "#1f77b4" : "#d62728", k ? " stroke-dasharray=\"6,4\"" : "" > svg
        }
        printf "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">IlgpuGan (solid)</text><text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">libtorch (dashed)</text>\n", x0 + L + 8, T + 12, x0 + L + 8, T + 26 > svg
    }
    printf "<text x=\"8\" y=\"%d\" fill=\"#555\">from %s (IlgpuGan bench --batch and the TorchSharp peer --batch, alternated; means of the rounds)</text>\n</svg>\n", H + 12, src > svg
}' "$results"
echo "written: $svg" >&2
