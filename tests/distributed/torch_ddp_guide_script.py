"""Keras's guide "Multi-GPU distributed training with PyTorch" (keras-io
`guides/distributed_training_with_torch.py`), run on kerasish on the CPU.

    python tests/distributed/torch_ddp_guide_script.py OUT PORT

The guide's code is kept as written; the changes are the import (`import kerasish as keras`) and the
lines marked `# changed:`: two processes on the CPU with gloo (the guide runs one per GPU with NCCL),
a free port from the test, synthetic arrays of MNIST's shapes (512 rows) instead of the download,
the initial weights read from OUT/initial.npz (the Keras twin's, so that the test can train the
same model in one process and in Keras), and rank 0 writing its final weights to OUT/final.npz.
tests/guides/test_distributed_training_with_torch.py runs it.
"""

import os
import sys

import torch
import numpy as np
import kerasish as keras  # changed: was `import keras` (with KERAS_BACKEND=torch)

OUT, PORT = sys.argv[1], sys.argv[2]  # changed: the test's folder and a free port


def get_model():
    # Make a simple convnet with batch normalization and dropout.
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(filters=12, kernel_size=3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(scale=False, center=True)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(filters=24, kernel_size=6, use_bias=False, strides=2)(x)
    x = keras.layers.BatchNormalization(scale=False, center=True)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(filters=32, kernel_size=6, padding="same", strides=2, name="large_k")(x)
    x = keras.layers.BatchNormalization(scale=False, center=True)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)
    initial = os.path.join(OUT, "initial.npz")  # changed: start from the Keras twin's weights
    if os.path.exists(initial):
        model.set_weights([w for _, w in sorted(np.load(initial).items(), key=lambda kv: int(kv[0].split("_")[1]))])
    return model


def get_dataset():
    # changed: synthetic arrays of MNIST's shapes and dtypes instead of keras.datasets.mnist.load_data()
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(512, 28, 28)).astype("uint8")
    y_train = rng.integers(0, 10, size=(512,)).astype("uint8")

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32")
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    print("x_train shape:", x_train.shape)

    # Create a TensorDataset
    dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(x_train), torch.from_numpy(y_train).long()  # changed: .long() (CrossEntropyLoss)
    )
    return dataset


def train_model(model, dataloader, num_epochs, optimizer, loss_fn):
    for epoch in range(num_epochs):
        running_loss = 0.0
        running_loss_count = 0
        for batch_idx, (inputs, targets) in enumerate(dataloader):
            inputs = inputs.to("cpu", non_blocking=True)  # changed: .cuda(non_blocking=True)
            targets = targets.to("cpu", non_blocking=True)  # changed: .cuda(non_blocking=True)

            # Forward pass
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)

            # Backward and optimize
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
            running_loss_count += 1

        # Print loss statistics
        print(f"Epoch {epoch + 1}/{num_epochs}, Loss: {running_loss / running_loss_count}")


# Config
num_gpu = 2  # changed: torch.cuda.device_count()
num_epochs = 2
batch_size = 64
print(f"Running on {num_gpu} GPUs")


def setup_device(current_gpu_index, num_gpus):
    # Device setup
    os.environ["MASTER_ADDR"] = "localhost"
    os.environ["MASTER_PORT"] = PORT  # changed: "56492"
    torch.distributed.init_process_group(
        backend="gloo",  # changed: "nccl"
        init_method="env://",
        world_size=num_gpus,
        rank=current_gpu_index,
    )
    # changed: no torch.cuda.set_device(device)


def cleanup():
    torch.distributed.destroy_process_group()


def prepare_dataloader(dataset, current_gpu_index, num_gpus, batch_size):
    sampler = torch.utils.data.distributed.DistributedSampler(
        dataset,
        num_replicas=num_gpus,
        rank=current_gpu_index,
        shuffle=False,
    )
    dataloader = torch.utils.data.DataLoader(
        dataset,
        sampler=sampler,
        batch_size=batch_size,
        shuffle=False,
    )
    return dataloader


def per_device_launch_fn(current_gpu_index, num_gpu):
    torch.set_num_threads(1)  # changed: two processes share this machine's cores
    # Setup the process groups
    setup_device(current_gpu_index, num_gpu)

    dataset = get_dataset()
    model = get_model()

    # prepare the dataloader
    dataloader = prepare_dataloader(dataset, current_gpu_index, num_gpu, batch_size)

    # Instantiate the torch optimizer
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    # Instantiate the torch loss function
    loss_fn = torch.nn.CrossEntropyLoss()

    # Put model on device
    model = model.to("cpu")  # changed: model.to(current_gpu_index)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model)  # changed: no device_ids on the CPU

    train_model(ddp_model, dataloader, num_epochs, optimizer, loss_fn)

    if current_gpu_index == 0:  # changed: rank 0 hands its final weights to the test
        np.savez(os.path.join(OUT, "final.npz"), *model.get_weights())
    cleanup()


if __name__ == "__main__":
    # We use the "fork" method rather than "spawn" to support notebooks
    torch.multiprocessing.start_processes(
        per_device_launch_fn,
        args=(num_gpu,),
        nprocs=num_gpu,
        join=True,
        start_method="fork",
    )
