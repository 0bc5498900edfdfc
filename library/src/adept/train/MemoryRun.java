package adept.train;

import adept.io.data.Batch;
import adept.io.data.Example;
import adept.io.data.Examples;
import adept.io.tokenizer.Tokenizer;
import adept.nn.CausalLM;
import adept.nn.ModelConfig;
import adept.tensor.Scope;
import adept.tensor.Torch;
import adept.tune.DecoupledTuning;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** A run on a model and data in memory: prepared and trained as a folder run is, with no file read or written. */
final class MemoryRun {
    private final RunContext run;
    private final TrainSettings s;

    MemoryRun(RunContext run) {
        this.run = run;
        this.s = run.s();
    }

    /** The settings for data: a copy whose file settings name the run's place in memory, so that validate() checks the rest. */
    static TrainSettings settings(TrainSettings given, InMemoryData data) {
        Path inMemory = Path.of("(in memory)");
        TrainSettingsBuilder settings = given.toBuilder().model(inMemory).data(inMemory).out(inMemory)
                .probe(data.probe().isEmpty() ? null : inMemory).eval(data.eval().isEmpty() ? null : inMemory);
        if (data.blockSize() > 0) {
            Integer blockSize = given.inputs().blockSize();
            if (blockSize != null && blockSize != data.blockSize()) {
                throw new TrainException("block_size " + blockSize + " differs from the blocks given (" + data.blockSize() + " tokens)");
            }
            settings.blockSize(data.blockSize());
        }
        return settings.build();  // checks the rest
    }

    Trainer.Result train(CausalLM model, InMemoryData data) {
        long t0 = System.nanoTime();
        run.parallel().checkBatchSize(s.inputs().batchSize());
        ModelConfig config = model.config();
        int blockSize = run.blockSize(config.maxPositionEmbeddings());
        run.checkMicroBatch(blockSize);
        long vocab = config.vocabSize();
        for (long id : data.tokens()) {
            if (id < 0 || id >= vocab) throw new TrainException("the training data in memory: token id " + id + " is outside the model's vocabulary of " + vocab);
        }
        Tokenizer tokenizer = data.tokenizer();
        if (tokenizer == null && (!data.probe().isEmpty() || !data.eval().isEmpty())) {
            throw new TrainException("probe and held-out texts need the model's tokenizer: give it with InMemoryData.withTokenizer");
        }
        Torch.init();
        Torch.manualSeed(s.inputs().seed());  // libtorch's generator starts from a random seed: any draw, and rng.cpu, repeat
        TokenBlocks blocks = new TokenBlocks(data.tokens(), blockSize, s.inputs().seed());
        run.listener().info(String.format(Locale.ROOT, "data: %,d tokens in memory; %,d blocks of %d", data.tokens().length, blocks.blocksPerEpoch(), blockSize));
        long padId = tokenizer == null ? 0 : Examples.paddingId(tokenizer, vocab);
        List<Example> probeExamples = examples(data.probe(), "probe texts", tokenizer,
                Math.min(config.maxPositionEmbeddings(), TrainingInputs.PROBE_MAX_LENGTH), 0, vocab);
        List<Example> eval = examples(data.eval(), "held-out texts", tokenizer, blockSize, s.output().evalTokens(), vocab);
        try (Scope runScope = Scope.open()) {
            List<Batch> probe = TrainingInputs.batches(probeExamples, s.stage2().probeBatchSize(), s.stage2().probeBatches(), padId, model.device());
            PreparedModel prepared = PreparedModel.prepareInMemory(s, model, probe, run.parallel().group(), run.listener()::info);
            long[] counts = run.describe(prepared);
            run.parallel().broadcastParameters(model);
            try (DecoupledTuning tuning = run.tuning(prepared)) {
                run.parallel().attach(model, tuning, s, run.listener()::info);
                try {
                    StepLoop.Data loopData = new StepLoop.Data(blocks, blockSize, probe, eval, padId);
                    StepLoop.Outcome o = run.loop(model, tuning, loopData, run.listener(), StepLoop.Saver.NONE).run(StepLoop.Progress.START);
                    double evalLoss = o.evalLoss();
                    if (o.status() == Trainer.Status.COMPLETED && !eval.isEmpty() && Double.isNaN(evalLoss)) evalLoss = run.evaluate(model, loopData);
                    return new Trainer.Result(o.status(), o.progress().step(), null, null, counts[0], counts[1], (System.nanoTime() - t0) / 1e9,
                            o.lastLoss(), evalLoss);
                } finally {
                    run.parallel().detach();
                }
            }
        }
    }

    /** Texts tokenized as a corpus file's items are (cut into windows of contextLength; at most budget tokens, 0 = all). */
    private static List<Example> examples(List<String> texts, String what, Tokenizer tokenizer, int contextLength, long budget, long vocab) {
        if (texts.isEmpty()) return List.of();
        Path name = Path.of(what);
        List<Example> examples = Examples.tokenize(name, InMemoryData.items(texts), tokenizer, contextLength, Examples.LongItems.SPLIT, budget);
        Examples.requireInVocabulary(name, examples, vocab);
        return examples;
    }
}
