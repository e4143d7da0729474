package bench

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WritePlots draws the report into dir, each plot as PNG and SVG: per profile
// and class, throughput against queue depth with software's rate beside it
// and latency against depth; per profile, the crossover map of workload
// against depth. It returns the files written.
func (rep *Report) WritePlots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cpu := map[string]*Row{}
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Mode == ModeCPU && r.Variant == VariantOneCore {
			cpu[r.Workload] = r
		}
	}
	type key struct{ profile, op string }
	curves := map[key]map[string][]*Row{}
	var keys []key
	for _, r := range rep.curveRows() {
		k := key{r.Profile, r.Op}
		if curves[k] == nil {
			curves[k] = map[string][]*Row{}
			keys = append(keys, k)
		}
		curves[k][r.Workload] = append(curves[k][r.Workload], r)
	}
	var files []string
	save := func(p *plot.Plot, name string, w, h vg.Length) error {
		for _, ext := range []string{".png", ".svg"} {
			path := filepath.Join(dir, name+ext)
			if err := p.Save(w, h, path); err != nil {
				return err
			}
			files = append(files, path)
		}
		return nil
	}
	profiles := map[string]bool{}
	for _, k := range keys {
		profiles[k.profile] = true
		c := curves[k]
		names := sortedWorkloads(c)
		tp, lat := plot.New(), plot.New()
		tp.Title.Text = fmt.Sprintf("%s on %s, pipelined, batch 1 (dashed: software on one core; dotted: the model)", k.op, k.profile)
		tp.Y.Label.Text = "jobs/s"
		lat.Title.Text = fmt.Sprintf("%s latency on %s, pipelined, batch 1 (solid p50, dashed p99)", k.op, k.profile)
		lat.Y.Label.Text = "µs"
		for _, p := range []*plot.Plot{tp, lat} {
			p.X.Label.Text = "queue depth"
			depthAxis(p)
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, metricTicks{}
			p.Legend.Top = true
			p.Legend.Left = true
		}
		for i, name := range names {
			rows := c[name]
			col := palette[i%len(palette)]
			var rate, model, p50, p99 plotter.XYs
			for _, r := range rows {
				if r.OpsPerSec > 0 {
					rate = append(rate, plotter.XY{X: float64(r.Depth), Y: r.OpsPerSec})
				}
				if r.ModelOpsPerSec > 0 {
					model = append(model, plotter.XY{X: float64(r.Depth), Y: r.ModelOpsPerSec})
				}
				if r.Latency.P50 > 0 {
					p50 = append(p50, plotter.XY{X: float64(r.Depth), Y: r.Latency.P50})
					p99 = append(p99, plotter.XY{X: float64(r.Depth), Y: r.Latency.P99})
				}
			}
			if err := addLine(tp, rate, col, nil, name); err != nil {
				return files, err
			}
			if err := addLine(tp, model, col, dots, ""); err != nil {
				return files, err
			}
			if b, ok := cpu[name]; ok && len(rate) > 0 {
				flat := plotter.XYs{{X: rate[0].X, Y: b.OpsPerSec}, {X: rate[len(rate)-1].X, Y: b.OpsPerSec}}
				if err := addLine(tp, flat, col, dashes, ""); err != nil {
					return files, err
				}
			}
			if err := addLine(lat, p50, col, nil, name); err != nil {
				return files, err
			}
			if err := addLine(lat, p99, col, dashes, ""); err != nil {
				return files, err
			}
		}
		// Room above the curves for the legend.
		for _, p := range []*plot.Plot{tp, lat} {
			if p.Y.Max > 0 {
				p.Y.Max *= 6
			}
		}
		base := fmt.Sprintf("%s-%s", k.profile, k.op)
		if err := save(tp, "throughput-"+base, 22*vg.Centimeter, 15*vg.Centimeter); err != nil {
			return files, err
		}
		if err := save(lat, "latency-"+base, 22*vg.Centimeter, 15*vg.Centimeter); err != nil {
			return files, err
		}
	}
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range profiles {
			if !yield(p) {
				return
			}
		}
	}) {
		cp, err := rep.crossoverPlot(p, cpu)
		if err != nil {
			return files, err
		}
		if cp != nil {
			if err := save(cp, "crossover-"+p, 22*vg.Centimeter, 18*vg.Centimeter); err != nil {
				return files, err
			}
		}
	}
	return files, nil
}

var (
	// palette tells apart the six sizes a plot usually holds.
	palette = []color.Color{
		color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
		color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x00, 0x00, 0x00, 0xff},
		color.RGBA{0x8c, 0x56, 0x4b, 0xff}, color.RGBA{0x17, 0xbe, 0xcf, 0xff},
	}
	dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	dots   = []vg.Length{vg.Points(1), vg.Points(2)}
)

// curveRows are the rows the plots draw: pipelined, batch 1, zero-copy,
// timing-only where the profile has timing-only rows.
func (rep *Report) curveRows() []*Row {
	timingOnly := map[string]bool{}
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Mode == ModePipelined && r.Variant == "" && r.Timing == "timing-only" {
			timingOnly[r.Profile] = true
		}
	}
	var out []*Row
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Mode == ModePipelined && r.Variant == "" && r.Batch == 1 && r.Buffers == ZeroCopy && (!timingOnly[r.Profile] || r.Timing == "timing-only") {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *Row) int { return cmp.Compare(a.Depth, b.Depth) })
	return out
}

// crossoverPlot is the map of where offload pays on one profile: a point per
// workload and depth, filled where pipelined offload beat software on one
// core, hollow where it did not.
func (rep *Report) crossoverPlot(profile string, cpu map[string]*Row) (*plot.Plot, error) {
	byW := map[string][]*Row{}
	for _, r := range rep.curveRows() {
		if r.Profile == profile {
			if _, ok := cpu[r.Workload]; ok {
				byW[r.Workload] = append(byW[r.Workload], r)
			}
		}
	}
	if len(byW) == 0 {
		return nil, nil
	}
	names := sortedWorkloads(byW)
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Where offload pays on %s: pipelined vs software on one core (filled: offload faster)", profile)
	p.X.Label.Text = "queue depth"
	depthAxis(p)
	var ticks []plot.Tick
	var win, lose plotter.XYs
	for i, name := range names {
		y := float64(i)
		ticks = append(ticks, plot.Tick{Value: y, Label: name})
		b := cpu[name]
		for _, r := range byW[name] {
			pt := plotter.XY{X: float64(r.Depth), Y: y}
			if b.OpsPerSec > 0 && r.OpsPerSec > b.OpsPerSec {
				win = append(win, pt)
			} else {
				lose = append(lose, pt)
			}
		}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = -0.5, float64(len(names))+0.5 // a free row on top for the legend
	for _, set := range []struct {
		xys   plotter.XYs
		shape draw.GlyphDrawer
		col   color.Color
		name  string
	}{
		{win, draw.CircleGlyph{}, color.RGBA{R: 0x1b, G: 0x9e, B: 0x4b, A: 0xff}, "offload faster"},
		{lose, draw.RingGlyph{}, color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff}, "software faster"},
	} {
		if len(set.xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(set.xys)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Shape: set.shape, Color: set.col, Radius: vg.Points(4)}
		p.Add(s)
		p.Legend.Add(set.name, s)
	}
	p.Legend.Top = true
	return p, nil
}

// depthAxis makes the X axis the queue depth: logarithmic, ticked at the
// powers of two the pipelined mode runs, with a margin so that the points at
// 1 and 256 stand clear of the edges.
func depthAxis(p *plot.Plot) {
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for d := 1; d <= MaxDepth; d *= 2 {
		ticks = append(ticks, plot.Tick{Value: float64(d), Label: fmt.Sprint(d)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0.75, MaxDepth*1.35
}

// metricTicks labels a logarithmic axis at powers of ten as the table
// prints rates: 10k, 1M.
type metricTicks struct{}

func (metricTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.LogTicks{Prec: -1}).Ticks(lo, hi) {
		if t.Label != "" {
			t.Label = tickLabel(t.Value)
		}
		out = append(out, t)
	}
	return out
}

// addLine draws a line with points; a nil name leaves it out of the legend.
func addLine(p *plot.Plot, xys plotter.XYs, col color.Color, dash []vg.Length, name string) error {
	xys = slices.DeleteFunc(slices.Clone(xys), func(xy plotter.XY) bool { return !(xy.Y > 0) || math.IsInf(xy.Y, 0) })
	if len(xys) == 0 {
		return nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, l.Dashes = col, dash
	pts.Color, pts.Radius = col, vg.Points(1.5)
	p.Add(l, pts)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// sortedWorkloads orders the workloads of a plot by operation, then size,
// from their rows.
func sortedWorkloads(m map[string][]*Row) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		x, y := m[a][0], m[b][0]
		return cmp.Or(cmp.Compare(x.Op, y.Op), cmp.Compare(x.Size, y.Size))
	})
	return names
}

func tickLabel(x float64) string {
	switch {
	case x >= 1e6:
		return strconv.FormatFloat(x/1e6, 'g', 3, 64) + "M"
	case x >= 1e3:
		return strconv.FormatFloat(x/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}
