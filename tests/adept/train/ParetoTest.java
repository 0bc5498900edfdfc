package adept.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Matched forgetting by hand: seed means, interpolation between neighbouring rates, never extrapolation. */
class ParetoTest {
    static List<Pareto.Run> runs() {
        return List.of(
                new Pareto.Run("a", 1e-4, "lr 1e-4", 0.02, -0.10),
                new Pareto.Run("a", 4e-4, "lr 4e-4", 0.08, -0.30),
                new Pareto.Run("a", 4e-4, "lr 4e-4", 0.12, -0.34),   // seed 2: mean (0.10, -0.32)
                new Pareto.Run("a", 1.6e-3, "lr 1.6e-3", 0.30, -0.60),
                new Pareto.Run("b", 4e-4, "lr 4e-4", 0.15, -0.20),
                new Pareto.Run("b", 1e-4, "lr 1e-4", 0.06, -0.05));
    }

    @Test
    void seedsAreAveragedAndSettingsOrderedByRate() {
        Map<String, List<Pareto.Point>> curves = Pareto.curves(runs());
        assertEquals(List.of("a", "b"), List.copyOf(curves.keySet()));
        Pareto.Point mid = curves.get("a").get(1);
        assertEquals(2, mid.n());
        assertEquals(0.10, mid.general(), 1e-15);
        assertEquals(-0.32, mid.domain(), 1e-15);
        assertEquals(Math.sqrt(2 * 0.02 * 0.02), mid.domainSd(), 1e-15);  // sample sd of -0.30, -0.34
        assertTrue(Double.isNaN(curves.get("a").get(0).domainSd()), "one seed: no spread");
        assertEquals(1e-4, curves.get("b").get(0).order(), "ordered by rate, not by appearance");
    }

    @Test
    void interpolatesAlongItsOwnCurveAndNeverExtrapolates() {
        Map<String, List<Pareto.Point>> curves = Pareto.curves(runs());
        // a at +0.05: between (0.02, -0.10) and (0.10, -0.32): t = 0.375 -> -0.10 + 0.375 * -0.22 = -0.1825
        Pareto.AtBudget a = Pareto.atBudget("a", curves.get("a"), 0.05);
        assertEquals(-0.1825, a.domain(), 1e-12);
        assertEquals(Math.sqrt(2 * 0.02 * 0.02), a.spread(), 1e-15, "the only end with seeds gives the spread");
        // a at +0.20: between (0.10, -0.32) and (0.30, -0.60): t = 0.5 -> -0.46
        assertEquals(-0.46, Pareto.atBudget("a", curves.get("a"), 0.20).domain(), 1e-12);
        // b spans 0.06..0.15: +0.05 and +0.20 are outside its grid
        assertFalse(Pareto.atBudget("b", curves.get("b"), 0.05).reached());
        assertFalse(Pareto.atBudget("b", curves.get("b"), 0.20).reached());
        assertEquals(-0.05 + (0.10 - 0.06) / 0.09 * -0.15, Pareto.atBudget("b", curves.get("b"), 0.10).domain(), 1e-12);
        // a point exactly at the budget
        assertEquals(-0.60, Pareto.atBudget("a", curves.get("a"), 0.30).domain(), 1e-15);
    }

    @Test
    void aCurveThatCrossesTheBudgetTwiceGivesItsBestCrossing() {
        List<Pareto.Run> rs = List.of(new Pareto.Run("c", 1, "1", 0.0, 0.0), new Pareto.Run("c", 2, "2", 0.2, -0.2),
                new Pareto.Run("c", 3, "3", 0.0, -0.5));  // too large a rate: forgetting falls back while learning goes on
        Pareto.AtBudget at = Pareto.atBudget("c", Pareto.curves(rs).get("c"), 0.1);
        assertEquals(-0.35, at.domain(), 1e-12, "crossings at -0.1 and -0.35: the better one");
    }
}
