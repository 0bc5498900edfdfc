package adept.train;

import adept.io.data.Batch;
import adept.nn.CausalLM;
import adept.optim.FlatGradient;
import adept.optim.GradientSource;
import adept.optim.Parameter;
import adept.parallel.GradientBuckets;
import adept.parallel.OverlappedGradientReducer;
import adept.parallel.ProcessGroup;
import adept.tensor.DType;
import adept.tensor.Scope;
import adept.tensor.Tensor;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One rank of a data-parallel run. batch_size stays the global batch: each of the N ranks trains on its own
 * batch_size / N blocks of it and the gradients are averaged over the ranks before clipping and the optimizer's step,
 * so N ranks follow the one-process run (up to rounding). Stop requests and non-finite losses are decided together at
 * read-backs, so that every rank stops at the same step.
 */
final class DataParallel implements ParallelStrategy {
    private final ProcessGroup group;
    private OverlappedGradientReducer reducer;  // null: averaged after backward (or not attached)
    private GradientBuckets buckets;  // averaging after backward: the buckets and the flat gradient they average
    private FlatGradient flatGradient;

    DataParallel(ProcessGroup group) {
        this.group = group;
    }

    /** The strategy for group: one process when it is null or has one rank. */
    static ParallelStrategy of(ProcessGroup group) {
        return group != null && group.size() > 1 ? new DataParallel(group) : new SingleProcess();
    }

    @Override
    public int rank() {
        return group.rank();
    }

    @Override
    public int ranks() {
        return group.size();
    }

    @Override
    public ProcessGroup group() {
        return group;
    }

    @Override
    public void checkSameInputs(TrainSettings s, Path modelDir, Path tokenFile) {
        RankAgreement.check(group, s, modelDir, tokenFile);
    }

    @Override
    public void barrier() {
        group.barrier();
    }

    /** A mismatch (ranks seeing other folders) would train nonsense. */
    @Override
    public void checkSameResumeStep(long step) {
        double[] sums = group.sum(step, (double) step * step);
        double mean = sums[0] / ranks();
        if (Math.abs(sums[1] / ranks() - mean * mean) > 1e-6 || mean != step) {
            throw new TrainException("rank " + rank() + " resumes from step " + step + " but the other ranks do not (is --out the same folder on every rank?)");
        }
    }

    /** They start equal anyway: this makes sure. */
    @Override
    public void broadcastParameters(CausalLM model) {
        try (Scope scope = Scope.open(); var noGrad = Torch.noGrad()) {
            List<Tensor> direct = new ArrayList<>();
            for (Tensor t : model.parametersAndAdapters().values()) {
                if (t.isContiguous()) {
                    direct.add(t);
                } else {
                    Tensor copy = t.contiguous();
                    group.broadcast(List.of(copy), 0);
                    t.copyFrom(copy);
                }
            }
            group.broadcast(direct, 0);
        }
    }

    @Override
    public void attach(CausalLM model, DecoupledTuning tuning, TrainSettings s, Consumer<String> info) {
        long bucketBytes = GradientBuckets.bucketBytes(System.getenv());
        String how;
        if (s.parallel().overlapGradReduce()) {
            reducer = overlappedReducer(model, tuning, bucketBytes);
            how = String.format(Locale.ROOT, "in %d bucket%s of at most %,d bytes, overlapped with backward", reducer.bucketCount(),
                    reducer.bucketCount() == 1 ? "" : "s", bucketBytes);
        } else {
            buckets = new GradientBuckets(group, bucketBytes);
            flatGradient = tuning.optimizer().flatGradient();
            how = "after backward";
        }
        info.accept(String.format(Locale.ROOT, "data parallel: %d ranks, %d of each %d-block batch per rank; %,d bytes of gradient all-reduced per step (%s)",
                ranks(), s.inputs().batchSize() / ranks(), s.inputs().batchSize(), gradientBytesPerStep(tuning), how));
    }

    /** What data parallelism all-reduces per step: the trainable tensors' gradient in the optimizer's state type. */
    static long gradientBytesPerStep(DecoupledTuning tuning) {
        DType state = tuning.optimizer().parameters().get(0).tensor().dtype() == DType.FLOAT64 ? DType.FLOAT64 : DType.FLOAT32;
        return tuning.trainableParameters() * state.byteSize();
    }

    /**
     * The overlapped all-reduce of the trainable tensors' gradients, writing into the views of the optimizer's flat
     * gradient. The tensors go in the model's order, so that the buckets (filled in reverse) follow backward.
     */
    private OverlappedGradientReducer overlappedReducer(CausalLM model, DecoupledTuning tuning, long bucketBytes) {
        List<Parameter> ps = tuning.optimizer().parameters();
        FlatGradient gradient = tuning.optimizer().flatGradient();
        Map<String, Integer> modelOrder = new HashMap<>();
        for (String name : model.parametersAndAdapters().keySet()) modelOrder.put(name, modelOrder.size());
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < ps.size(); i++) order.add(i);
        order.sort(Comparator.comparingInt(i -> modelOrder.getOrDefault(ps.get(i).name(), Integer.MAX_VALUE)));
        try (Scope scope = Scope.open()) {
            List<Tensor> tensors = new ArrayList<>();
            List<Tensor> slots = new ArrayList<>();
            for (int i : order) {
                tensors.add(ps.get(i).tensor());
                slots.add(gradient.view(i));
            }
            return OverlappedGradientReducer.create(group, tensors, slots, bucketBytes);
        }
    }

    /** Overlapped all-reduce: only the last micro-batch's backward reduces (the others accumulate). */
    @Override
    public void beforeBackward(int index, int count) {
        if (reducer != null) reducer.prepare(index == count - 1);
    }

    /** The overlapped all-reduce finishes before the collectives of the read-back: every rank issues them in the same order. */
    @Override
    public GradientSource beforeStep(long step, boolean firstOfRun, Consumer<String> info) {
        if (reducer == null) {
            flatGradient.collect();  // the parameters' .grad into the flat buffer, averaged there in buckets
            buckets.averageInPlace(flatGradient.tensor());
            return GradientSource.FLAT_BUFFER;
        }
        reducer.finish();
        if (firstOfRun) {
            info.accept(String.format(Locale.ROOT, "data parallel: step %d's gradient all-reduce: %d of %d buckets started during backward",
                    step + 1, reducer.bucketsLaunchedDuringBackward(), reducer.bucketCount()));
        }
        return GradientSource.FLAT_BUFFER;  // the reducer wrote the averages into the flat buffer's views
    }

    @Override
    public double[] refresh(DecoupledTuning tuning, List<Batch> probe, int maxBatches) {
        return tuning.refresh(probe, maxBatches, group);
    }

    /** Never alone: the ranks decide together at the next read-back. */
    @Override
    public boolean stopNow(AtomicBoolean stop) {
        return false;
    }

    /** The global loss (each rank's is the mean over its equal share) and whether any rank was told to stop. */
    @Override
    public ReadBack agree(double lossSum, boolean stopping) {
        double[] sums = group.sum(lossSum, stopping ? 1 : 0);
        return new ReadBack(sums[0] / ranks(), sums[1] > 0);
    }

    @Override
    public void detach() {
        if (reducer != null) reducer.close();
        reducer = null;
    }
}
