package adept.train;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Learning-versus-forgetting frontiers: each curve (a mode or arm) joins its settings (learning rates) in order,
 * each setting the mean over its seeds; at a general-loss budget, a curve's domain change is interpolated along
 * its own segments and never extrapolated. Lower domain change = more learned.
 */
public final class Pareto {
    private Pareto() {}

    /** One finished run: its curve, its place on the curve (order, e.g. the learning rate), its setting key without the seed, and the two changes. */
    public record Run(String curve, double order, String setting, double generalChange, double domainChange) {}

    /** A setting of a curve: the mean changes over its n seeds and their sample standard deviations (NaN for one seed). */
    public record Point(String setting, double order, int n, double general, double generalSd, double domain, double domainSd) {}

    /** A curve at a budget: its interpolated domain change and seed spread, or not reached (NaN). */
    public record AtBudget(String curve, double budget, double domain, double spread) {
        /** Whether the curve spans the budget. */
        public boolean reached() {
            return !Double.isNaN(domain);
        }
    }

    /** Each curve's settings in order (curves in first-appearance order). */
    public static Map<String, List<Point>> curves(List<Run> runs) {
        Map<String, Map<String, List<Run>>> grouped = new LinkedHashMap<>();
        for (Run r : runs) grouped.computeIfAbsent(r.curve(), k -> new LinkedHashMap<>()).computeIfAbsent(r.setting(), k -> new ArrayList<>()).add(r);
        Map<String, List<Point>> out = new LinkedHashMap<>();
        for (var c : grouped.entrySet()) {
            List<Point> points = new ArrayList<>();
            for (var s : c.getValue().entrySet()) {
                List<Run> rs = s.getValue();
                double[] g = rs.stream().mapToDouble(Run::generalChange).toArray();
                double[] d = rs.stream().mapToDouble(Run::domainChange).toArray();
                points.add(new Point(s.getKey(), rs.get(0).order(), rs.size(), mean(g), sd(g), mean(d), sd(d)));
            }
            points.sort(Comparator.comparingDouble(Point::order));
            out.put(c.getKey(), points);
        }
        return out;
    }

    /**
     * The curve's domain change at general change budget: linear interpolation on every segment between neighbouring
     * settings whose general changes bracket the budget (the best one when several do); NaN when none does. The spread
     * is the seed standard deviation of the domain change interpolated the same way (where only one end has seeds, its value).
     */
    public static AtBudget atBudget(String curve, List<Point> points, double budget) {
        double best = Double.NaN;
        double spread = Double.NaN;
        for (int i = 0; i < points.size(); i++) {
            Point a = points.get(i);
            if (a.general() == budget && (Double.isNaN(best) || a.domain() < best)) {
                best = a.domain();
                spread = a.domainSd();
            }
            if (i + 1 == points.size()) break;
            Point b = points.get(i + 1);
            if (a.general() == b.general() || (a.general() - budget) * (b.general() - budget) > 0) continue;
            double t = (budget - a.general()) / (b.general() - a.general());
            double y = a.domain() + t * (b.domain() - a.domain());
            if (Double.isNaN(best) || y < best) {
                best = y;
                spread = Double.isNaN(a.domainSd()) ? b.domainSd() : Double.isNaN(b.domainSd()) ? a.domainSd()
                        : a.domainSd() + t * (b.domainSd() - a.domainSd());
            }
        }
        return new AtBudget(curve, budget, best, spread);
    }

    /** Every curve at every budget, budgets outermost. */
    public static List<AtBudget> matched(Map<String, List<Point>> curves, List<Double> budgets) {
        List<AtBudget> out = new ArrayList<>();
        for (double b : budgets) for (var c : curves.entrySet()) out.add(atBudget(c.getKey(), c.getValue(), b));
        return out;
    }

    static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s / v.length;
    }

    /** Sample standard deviation; NaN below two values. */
    static double sd(double[] v) {
        if (v.length < 2) return Double.NaN;
        double m = mean(v);
        double s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return Math.sqrt(s / (v.length - 1));
    }
}
