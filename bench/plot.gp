# Chart for BENCHMARKS.md: grouped bars of bulk Gb/s and ping-pong p50 per
# server. Called by bench/run.py: gnuplot -e "resdir='bench/results'" bench/plot.gp
# Inputs: resdir/bulk.dat, resdir/pingpong.dat ("group" direct sockmap splice coturn;
# "?" = failed or not run).
if (!exists("resdir")) resdir = "bench/results"
set terminal pngcairo size 1300,520 font "DejaVu Sans,10" noenhanced
set output resdir."/bench.png"
set datafile missing "?"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
set xtics nomirror
set linetype 1 lc rgb "#888888"
set linetype 2 lc rgb "#1f77b4"
set linetype 3 lc rgb "#2ca02c"
set linetype 4 lc rgb "#d62728"
set multiplot layout 1,2 title "kturn relays vs direct and coturn (medians)"
set title "Bulk TCP, both directions (higher is better)"
set ylabel "Gb/s (received)"
plot resdir."/bulk.dat" using 2:xtic(1) title "direct" lt 1, \
     "" using 3 title "kturnd sockmap" lt 2, \
     "" using 4 title "kturnd splice" lt 3, \
     "" using 5 title "coturn" lt 4
set title "64-byte TCP ping-pong p50 (lower is better)"
set ylabel "µs"
plot resdir."/pingpong.dat" using 2:xtic(1) title "direct" lt 1, \
     "" using 3 title "kturnd sockmap" lt 2, \
     "" using 4 title "kturnd splice" lt 3, \
     "" using 5 title "coturn" lt 4
unset multiplot
