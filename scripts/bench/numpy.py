"""
The numpy peer of the bench (scripts/bench/numpy.ts starts it): the two-layer networks of
shared/bench/WORKLOADS.md as hand-written backprop in numpy float32, one SGD step per batch.

    python3 numpy.py probe        one JSON line: numpy's version, the BLAS it runs, its threads
    python3 numpy.py serve DIR    loads the workload DIR holds (spec.json and raw little-endian
                                  files written by numpy.ts), prints one JSON line when ready,
                                  then answers one JSON line per command read on stdin:
                                    run N      trains N steps: {"samples", "seconds", "loss"}
                                    losses N   the same, with every step's loss in "losses"

Every step reads the next of the batches it was given, cycling: the same batches, in the same
order, as livegrad. "seconds" is time.perf_counter() around the training loop only.
"""
import ctypes
import json
import os
import sys
import time

# NOTE: this file is called numpy.py, and python puts its directory first on the path: left there,
# `import numpy` would import this file again instead of numpy.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402

F32 = np.float32


def loaded_blas():
    """The BLAS libraries this process has loaded (Linux: from /proc/self/maps), in load order."""
    libs = []
    try:
        with open('/proc/self/maps') as maps:
            for line in maps:
                path = line.split()[-1]
                if 'blas' in os.path.basename(path).lower() and path not in libs:
                    libs.append(path)
    except OSError:
        pass
    return libs


def openblas():
    """(library, its OpenBLAS function named `name`) for the first loaded OpenBLAS, or None."""
    for path in loaded_blas():
        lib = ctypes.CDLL(path)
        # plain (Debian's libopenblas) or renamed (the scipy-openblas in numpy's wheels)
        for prefix, suffix in [(p, s) for p in ('', 'scipy_') for s in ('', '64_')]:
            if hasattr(lib, f'{prefix}openblas_get_config{suffix}'):
                return path, lambda name, lib=lib, prefix=prefix, suffix=suffix: getattr(lib, f'{prefix}{name}{suffix}')
    return None


def blas_info():
    """What BLAS numpy runs (OpenBLAS' own description of itself, else numpy's config), and OpenBLAS' variables in the environment."""
    return {**blas(), 'openblas_env': {k: v for k, v in os.environ.items() if k.startswith('OPENBLAS_')}}


def blas():
    found = openblas()
    if found:
        path, fn = found
        get_config = fn('openblas_get_config')
        get_config.restype = ctypes.c_char_p
        return {'blas': ' '.join(get_config().decode().split()), 'threads': fn('openblas_get_num_threads')(), 'library': path}
    libs = loaded_blas()
    if libs:
        # e.g. Debian's reference BLAS: python3-numpy without libopenblas0 installed
        return {'blas': f'not OpenBLAS: {os.path.realpath(libs[0])}', 'threads': None, 'library': libs[0]}
    try:  # numpy >= 1.25
        built = np.show_config(mode='dicts')['Build Dependencies']['blas']
        described = built.get('openblas configuration') or f"{built.get('name')} {built.get('version')}"
    except (TypeError, KeyError):
        described = 'BLAS unknown (see numpy.show_config())'
    return {'blas': ' '.join(described.split()), 'threads': None, 'library': None}


def thread_parking():
    """
    (start, park): start OpenBLAS' threads, and stop them, or two no-ops without OpenBLAS.
    NOTE: after a call, OpenBLAS' worker threads spin for ~0.1 s (measured here: a whole core for
    100 ms) before they sleep. Between runs that would take a core from the impl the bench runs
    next, so the threads are stopped after each run and started again before the next one's clock
    starts (both ~0.1 ms, outside the timed loop; the symbols are not renamed in scipy-openblas).
    """
    found = openblas()
    if found:
        lib = ctypes.CDLL(found[0])
        start, park = getattr(lib, 'blas_thread_init', None), getattr(lib, 'blas_thread_shutdown_', None)
        if start and park:
            return start, park
    return (lambda: None), (lambda: None)


def load(directory):
    with open(os.path.join(directory, 'spec.json')) as f:
        spec = json.load(f)
    nin, nh, nout = spec['sizes']
    raw = lambda name, dtype: np.fromfile(os.path.join(directory, name), dtype=dtype)
    net = {
        'w1': raw('w1.f32', '<f4').reshape(nin, nh), 'b1': raw('b1.f32', '<f4'),
        'w2': raw('w2.f32', '<f4').reshape(nh, nout), 'b2': raw('b2.f32', '<f4'),
    }
    x, y, labels = raw('x.f32', '<f4').reshape(-1, nin), raw('y.f32', '<f4').reshape(-1, nout), raw('labels.i32', '<i4')
    batches, row = [], 0
    for m in raw('rows.i32', '<i4').tolist():
        # views, not copies: x: [m, nin], y: [m, nout] (one-hot, or W1's targets), labels: [m]
        batches.append((x[row:row + m], y[row:row + m], labels[row:row + m], np.arange(m)))
        row += m
    return spec, net, batches


def step(net, x, y, labels, rows, hidden, loss, lr):
    """One SGD step on a batch; returns its loss before the update."""
    w1, b1, w2, b2 = net['w1'], net['b1'], net['w2'], net['b2']
    m = x.shape[0]
    # forward. x: [m, nin], w1: [nin, nh], h: [m, nh], w2: [nh, nout], z2: [m, nout]
    z1 = x @ w1
    z1 += b1
    if hidden == 'relu':
        h = np.maximum(z1, F32(0))
    else:
        h = F32(1) / (F32(1) + np.exp(-z1))
    z2 = h @ w2
    z2 += b2
    if loss == 'sse':
        # ½ Σ (a − y)², a = sigmoid(z2); d2 = dL/dz2 = (a − y) · a · (1 − a)
        a = F32(1) / (F32(1) + np.exp(-z2))
        e = a - y
        cost = 0.5 * float(np.dot(e.ravel(), e.ravel()))
        d2 = e * a * (F32(1) - a)
    else:
        # cross-entropy, mean over the batch, of softmax(z2); d2 = (softmax(z2) − onehot) / m
        # NOTE: shifted by the row max so exp cannot overflow; log-softmax, not log(softmax)
        z2 -= z2.max(axis=1, keepdims=True)
        p = np.exp(z2)
        s = p.sum(axis=1, keepdims=True)
        cost = float(np.mean(np.log(s[:, 0]) - z2[rows, labels]))
        p /= s
        p -= y
        p /= F32(m)
        d2 = p
    # backward: g2 = hᵀ·d2, d1 = (d2·w2ᵀ) ⊙ f'(z1), g1 = xᵀ·d1 (no gradient for the input)
    g2 = h.T @ d2
    gb2 = d2.sum(axis=0)
    d1 = d2 @ w2.T
    if hidden == 'relu':
        d1 *= h > 0
    else:
        d1 *= h * (F32(1) - h)
    g1 = x.T @ d1
    gb1 = d1.sum(axis=0)
    # SGD
    w1 -= lr * g1
    b1 -= lr * gb1
    w2 -= lr * g2
    b2 -= lr * gb2
    return cost


def serve(directory):
    spec, net, batches = load(directory)
    hidden, loss, lr = spec['hidden'], spec['loss'], F32(spec['lr'])
    reply = lambda obj: print(json.dumps(obj), flush=True)
    start_threads, park_threads = thread_parking()
    reply({'ready': True, 'numpy': np.__version__, **blas_info()})
    park_threads()
    b = 0
    for line in sys.stdin:
        command, _, arg = line.strip().partition(' ')
        if command not in ('run', 'losses'):
            raise ValueError(f'Expected a command run N or losses N, got {line.strip()!r}')
        steps, samples, cost = int(arg), 0, float('nan')
        losses = [] if command == 'losses' else None
        start_threads()
        t0 = time.perf_counter()
        for _ in range(steps):
            x, y, labels, rows = batches[b]
            b = (b + 1) % len(batches)
            cost = step(net, x, y, labels, rows, hidden, loss, lr)
            samples += x.shape[0]
            if losses is not None:
                losses.append(cost)
        seconds = time.perf_counter() - t0
        park_threads()
        reply({'steps': steps, 'samples': samples, 'seconds': seconds, 'loss': cost, **({'losses': losses} if losses is not None else {})})


def main(argv):
    if argv[:1] == ['probe']:
        print(json.dumps({'numpy': np.__version__, **blas_info()}), flush=True)
    elif argv[:1] == ['serve'] and len(argv) == 2:
        serve(argv[1])
    else:
        raise SystemExit(f'Expected "probe" or "serve DIR", got {" ".join(argv)!r}')


if __name__ == '__main__':
    main(sys.argv[1:])
