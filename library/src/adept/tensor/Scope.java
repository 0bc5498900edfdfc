package adept.tensor;

import java.util.Arrays;

/**
 * Arena-style ownership of tensors: every tensor made on this thread while a scope is
 * open belongs to the innermost scope and is freed when it closes. Long-lived tensors
 * (parameters, optimizer state) leave the scope with {@link Tensor#keep()} or move to the
 * enclosing scope with {@link #promote(Tensor)}. Outside any scope the caller owns
 * (and should close) what it makes; what it never closes is freed once unreachable. Scopes are per thread and must close innermost first.
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<Scope> CURRENT = new ThreadLocal<>();

    private final Scope parent;
    private final Thread thread;
    private Tensor[] tensors = new Tensor[32];
    private int count;
    private boolean closed;

    private Scope(Scope parent) {
        this.parent = parent;
        this.thread = Thread.currentThread();
    }

    /** Opens a scope on this thread: it owns every tensor made until it is closed, nested scopes excepted. */
    public static Scope open() {
        FallbackOwner.freeQueued();
        Scope scope = new Scope(CURRENT.get());
        CURRENT.set(scope);
        return scope;
    }

    /** The innermost open scope of this thread, or null. */
    public static Scope current() {
        return CURRENT.get();
    }

    void add(Tensor tensor) {
        if (count == tensors.length) tensors = Arrays.copyOf(tensors, count * 2);
        tensors[count++] = tensor;
        tensor.owner = this;
    }

    /** Moves a tensor of this scope to the enclosing scope (or to the caller when there is none). */
    public Tensor promote(Tensor tensor) {
        if (tensor.owner != this) throw new TorchException("tensor does not belong to this scope");
        tensor.owner = null;
        if (parent != null) parent.add(tensor);
        else tensor.giveToFallbackOwner();
        return tensor;
    }

    /**
     * Moves a tensor of an open scope of this thread (a nested one, typically) into this scope, which must still be
     * open: for what is made on first use inside a nested scope but belongs with this one (a cache).
     */
    public Tensor adopt(Tensor tensor) {
        if (closed) throw new TorchException("this scope is closed: nothing can move into it");
        if (Thread.currentThread() != thread) throw new TorchException("a scope takes tensors only on the thread that opened it");
        if (tensor.owner == this) return tensor;
        if (tensor.owner == null) throw new TorchException("only a tensor of an open scope can move to another");
        tensor.owner = null;
        add(tensor);
        return tensor;
    }

    /** Tensors registered in this scope (including those already closed or kept). */
    public int size() {
        return count;
    }

    @Override
    public void close() {
        if (closed) return;
        if (Thread.currentThread() != thread) throw new TorchException("a scope must be closed by the thread that opened it");
        if (CURRENT.get() != this) throw new TorchException("scopes must be closed innermost first");
        closed = true;
        CURRENT.set(parent);
        for (int i = count - 1; i >= 0; i--) {
            Tensor t = tensors[i];
            tensors[i] = null;
            if (t.owner == this) {
                t.owner = null;
                t.close();
            }
        }
        count = 0;
    }
}
