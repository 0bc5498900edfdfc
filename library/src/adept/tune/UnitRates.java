package adept.tune;

import adept.optim.SplitRateOptimizer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Writes per-unit rate multipliers and frozen flags into an optimizer (at each importance refresh, never per step). */
public final class UnitRates {
    private UnitRates() {}

    /** Sets every unit's slices in optimizer to the unit's multiplier, or freezes them. */
    public static void apply(SplitRateOptimizer optimizer, UnitMap map, RatePolicy.Assignment assignment) {
        Map<String, Integer> index = new HashMap<>();
        List<adept.optim.Parameter> ps = optimizer.parameters();
        for (int i = 0; i < ps.size(); i++) index.put(ps.get(i).name(), i);
        optimizer.resetRates(1.0);
        for (int u = 0; u < map.size(); u++) {
            Unit unit = map.units().get(u);
            double w = assignment.multipliers()[u];
            boolean frozen = assignment.frozen()[u];
            for (Unit.Slice s : unit.slices()) {
                Integer i = index.get(s.tensor());
                if (i == null) throw new IllegalArgumentException("the optimizer has no parameter " + s.tensor());
                if (w != 1) optimizer.setMultiplier(i, s.dim(), s.start(), s.length(), w);
                if (frozen) optimizer.setFrozen(i, s.dim(), s.start(), s.length(), true);
            }
        }
    }
}
