package adept.optim;

import adept.tensor.Foreach;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW (decoupled weight decay, bias correction) as PyTorch defines it, over parameter
 * groups that each have their own learning rate and weight decay. The step runs as
 * multi-tensor (_foreach) ops on the tensors' own device: no per-element host work.
 */
public final class AdamW implements AutoCloseable {
    /** Parameters sharing a learning rate and weight decay. */
    public static final class Group {
        final List<Tensor> params;
        double learningRate;
        final double weightDecay;
        final List<Tensor> expAvg = new ArrayList<>();
        final List<Tensor> expAvgSq = new ArrayList<>();

        public Group(List<Tensor> params, double learningRate, double weightDecay) {
            this.params = List.copyOf(params);
            this.learningRate = learningRate;
            this.weightDecay = weightDecay;
        }

        public double learningRate() {
            return learningRate;
        }

        public List<Tensor> params() {
            return params;
        }
    }

    private final List<Group> groups;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private long steps;

    public AdamW(List<Group> groups, double beta1, double beta2, double eps) {
        this.groups = List.copyOf(groups);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        // Moment buffers live as long as the optimizer: kept out of any scope.
        try (Scope scope = Scope.open()) {
            for (Group g : this.groups) {
                for (Tensor p : g.params) {
                    g.expAvg.add(zerosLike(p).keep());
                    g.expAvgSq.add(zerosLike(p).keep());
                }
            }
        }
    }

    public static AdamW of(List<Tensor> params, double learningRate, double weightDecay) {
        return new AdamW(List.of(new Group(params, learningRate, weightDecay)), 0.9, 0.999, 1e-8);
    }

    private static Tensor zerosLike(Tensor p) {
        return Tensor.zeros(p.dtype(), p.device(), p.shape());
    }

    public List<Group> groups() {
        return groups;
    }

    public long steps() {
        return steps;
    }

    /** One update from the parameters' current .grad; parameters without a gradient are skipped. */
    public void step() {
        steps++;
        double bias1 = 1 - Math.pow(beta1, steps);
        double bias2Sqrt = Math.sqrt(1 - Math.pow(beta2, steps));
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            for (Group g : groups) {
                List<Tensor> params = new ArrayList<>();
                List<Tensor> grads = new ArrayList<>();
                List<Tensor> m = new ArrayList<>();
                List<Tensor> v = new ArrayList<>();
                for (int i = 0; i < g.params.size(); i++) {
                    Tensor grad = g.params.get(i).grad();
                    if (grad == null) continue;
                    params.add(g.params.get(i));
                    grads.add(grad);
                    m.add(g.expAvg.get(i));
                    v.add(g.expAvgSq.get(i));
                }
                updateInChunks(params, grads, m, v, g.learningRate, g.weightDecay, bias1, bias2Sqrt);
            }
        }
    }

    /**
     * Cache-sized slices of the parameter list: each slice's p, g, m, v stay in cache across
     * the update's passes, and its temporaries are freed before the next slice (measured:
     * optimizer 19.5 -> 16.6 ms on a 13M-parameter model).
     */
    static final long CHUNK_ELEMENTS = 1 << 18;

    private void updateInChunks(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
                                double lr, double weightDecay, double bias1, double bias2Sqrt) {
        int start = 0;
        while (start < params.size()) {
            int end = start;
            long elements = 0;
            do {
                elements += params.get(end).numel();
                end++;
            } while (end < params.size() && elements + params.get(end).numel() <= CHUNK_ELEMENTS);
            try (Scope chunk = Scope.open()) {
                update(params.subList(start, end), grads.subList(start, end), m.subList(start, end), v.subList(start, end),
                        lr, weightDecay, bias1, bias2Sqrt);
            }
            start = end;
        }
    }

    /** The functional core: one AdamW update of params in place (torch.optim.AdamW, non-amsgrad). */
    void update(List<Tensor> params, List<Tensor> grads, List<Tensor> m, List<Tensor> v,
                double lr, double weightDecay, double bias1, double bias2Sqrt) {
        if (weightDecay != 0) Foreach.mulInPlace(params, 1 - lr * weightDecay);
        Foreach.lerpInPlace(m, grads, 1 - beta1);
        Foreach.mulInPlace(v, beta2);
        Foreach.addcmulInPlace(v, grads, grads, 1 - beta2);
        List<Tensor> denominators = Foreach.sqrt(v);
        Foreach.mulInPlace(denominators, 1 / bias2Sqrt);
        Foreach.addInPlace(denominators, eps);
        Foreach.addcdivInPlace(params, m, denominators, -lr / bias1);
    }

    /** Sets every parameter's gradient to none (frees the buffers, as set_to_none does). */
    public void zeroGrad() {
        for (Group g : groups) for (Tensor p : g.params) p.setGrad(null);
    }

    @Override
    public void close() {
        for (Group g : groups) {
            g.expAvg.forEach(Tensor::close);
            g.expAvgSq.forEach(Tensor::close);
        }
    }
}
