package adept.optim;

/**
 * AdamW's hyperparameters apart from the rate: betas, eps, decoupled weight decay (applied only to
 * parameters marked for decay), clipping by the global gradient norm (0 = off), and the arithmetic path
 * ({@link AdamWPath#AUTO} unless a test or bench picks one).
 */
public record AdamWSettings(double beta1, double beta2, double eps, double weightDecay, double maxGradNorm, AdamWPath path) {
    /** The method's defaults: betas 0.9 / 0.999, eps 1e-8, weight decay 0.1, clipping at norm 1.0. */
    public static final AdamWSettings DEFAULT = new AdamWSettings(0.9, 0.999, 1e-8, 0.1, 1.0);

    public AdamWSettings {
        if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
        if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
        if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        if (!(maxGradNorm >= 0)) throw new IllegalArgumentException("max gradient norm must be >= 0 (0 = no clipping), got " + maxGradNorm);
        if (path == null) throw new IllegalArgumentException("AdamW path must be given (AUTO: the fastest that applies)");
    }

    /** These hyperparameters on the {@link AdamWPath#AUTO} path. */
    public AdamWSettings(double beta1, double beta2, double eps, double weightDecay, double maxGradNorm) {
        this(beta1, beta2, eps, weightDecay, maxGradNorm, AdamWPath.AUTO);
    }

    /** These settings with another decoupled weight decay. */
    public AdamWSettings withWeightDecay(double value) {
        return new AdamWSettings(beta1, beta2, eps, value, maxGradNorm, path);
    }

    /** These settings with another clipping norm (0: no clipping). */
    public AdamWSettings withMaxGradNorm(double value) {
        return new AdamWSettings(beta1, beta2, eps, weightDecay, value, path);
    }

    /** These settings on another arithmetic path. */
    public AdamWSettings withPath(AdamWPath value) {
        return new AdamWSettings(beta1, beta2, eps, weightDecay, maxGradNorm, value);
    }
}
