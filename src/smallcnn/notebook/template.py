# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# **AI-use disclaimer.** Every block I filled in below was written with the help of an AI coding assistant:
# the code of all the "CODE HERE" cells (the data loaders, both networks, the training and evaluation
# functions, the plots and the Part 2 architecture study) and the first drafts of my answers to both
# discussion prompts, which were composed from this notebook's own outputs.
#
# **My own declaration:** _Replace this line with your own statement of how you used AI tools for this
# assignment, citing which parts of the code were written with AI help._
#
# ---
#
# # Part 1: Image Classification — Fashion‑MNIST (11 points)
#
# **Goal:** Build and train a lightweight CNN on Fashion‑MNIST following the given architecture and specs.

# %%
# import something you may find useful
import os, random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split, Dataset
from torchvision import datasets, transforms
import numpy as np

import matplotlib
import matplotlib.pyplot as plt
# core imports

# set seed
def set_seed(seed: int = 42):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False

set_seed(42)

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
device = torch.device("mps") if torch.backends.mps.is_available() else device  # an Apple GPU
print("Device:", device)

# create a folder to save data
data_dir = "./data"
os.makedirs(data_dir, exist_ok=True)

# %% [markdown]
# <div class="alert alert-success">
#     <h3>1) Data</h3>
#     load Fashion‑MNIST and create train/val/test splits (1 point)
# </div>

# %%
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.5,), (0.5,))
])

# Use the following code to load the Fashion-MNIST if you want, or you can download the data manually
train_full = datasets.FashionMNIST(root=data_dir, train=True, download=True, transform=transform)
test_ds = datasets.FashionMNIST(root=data_dir, train=False, download=True, transform=transform)


# %%
# CODE HERE
# Define the training, validation, and test datasets.
# Note that you may want to select the validation set from the training set by randomly splitting the data
# Instead of a DataLoader, which converts and normalises every image again in every epoch, I keep
# each split in memory as one tensor on the device: a batch is then a slice of it, much faster.
# core: AUGMENTATIONS, EVAL_BATCH_SIZE, to_tensors, normalise, augment, TensorLoader, split_train_val
# core: MIN_EPOCHS, TrainConfig, RECIPES, show_examples

recipe = RECIPES["fashion-mnist"]  # every setting of my Part 1 training
print(recipe)
train_ds, val_ds = split_train_val(train_full, recipe.val_fraction, recipe.seed)
show_examples(train_full)  # eight training images of each class
plt.show()

batch_size = recipe.batch_size
# You may want to verify the data
train_loader = TensorLoader(train_ds, batch_size, device, shuffle=True, augment=recipe.augment,
                            seed=recipe.seed)
val_loader = TensorLoader(val_ds, EVAL_BATCH_SIZE, device)
test_loader = TensorLoader(test_ds, EVAL_BATCH_SIZE, device)

len(train_ds), len(val_ds), len(test_ds)

# %% [markdown]
# <div class="alert alert-success">
#     <h3>2) Model</h3>
#     Build the CNN model (3 points)
# </div>

# %%
# core: SmallCNN, count_parameters

# You may want to verify the architecture of CNN
model = SmallCNN().to(device)
model = model.to(memory_format=torch.channels_last)  # my loaders' layout: faster on a CPU
n_params = count_parameters(model)
print(f"{n_params:,} trainable parameters")
model

# %% [markdown]
# <div class="alert alert-success">
#     <h3>3) Loss & Optimizer</h3>
#     CrossEntropy + SGD (1 point)
# </div>

# %%
# CODE HERE
# core: lr_factor, warmup_steps, make_training, describe_recipe
criterion, optimizer, scheduler = make_training(model, recipe, len(train_loader))
print(describe_recipe(recipe, len(train_loader)))

# You may want to verify the criterion and optimizer
criterion, optimizer

# %% [markdown]
# <div class="alert alert-success">
#     <h3>4) Training loop</h3>
#     track training and validation loss (1 points)
# </div>

# %%
# CODE HERE
# Train the network for each epoch
# core: train_one_epoch

# CODE HERE
# Evaluate the model on the validation set
# core: logits_of, evaluate

# %% [markdown]
# <div class="alert alert-success">
#     <h3>5) Run training</h3>
#     ≥ 15 epochs (1 point)
# </div>

# %%
# CODE HERE
# Set the training epochs
epochs = recipe.epochs
train_losses, val_losses, train_accs, val_accs = [], [], [], []
epoch_seconds = []  # how long each epoch took, training and validation together


# CODE HERE
# Run the training epochs
for epoch in range(1, epochs + 1):
    start = time.perf_counter()
    tr_loss, tr_acc = train_one_epoch(model, train_loader, optimizer, criterion, device,
                                      scheduler=scheduler)
    va_loss, va_acc = evaluate(model, val_loader, criterion, device, flips=recipe.test_flips)
    train_losses.append(tr_loss)
    val_losses.append(va_loss)
    train_accs.append(tr_acc)
    val_accs.append(va_acc)
    epoch_seconds.append(time.perf_counter() - start)
    print(f"Epoch {epoch:2d}/{epochs}: train loss {tr_loss:.4f}, acc {tr_acc:.2%} | "
          f"val loss {va_loss:.4f}, acc {va_acc:.2%} | {epoch_seconds[-1]:.1f} s")
print(f"{epochs} epochs in {sum(epoch_seconds):.0f} s. I test the weights of the last epoch, "
      f"when the learning rate has come down to zero.")

# %% [markdown]
# <div class="alert alert-success">
#     <h3>6) Plot</h3>
#     training vs validation loss (1 point)
# </div>

# %%
# CODE HERE
# Plot the "Training vs Validation Loss"
# core: plot_losses
plt.figure(figsize=(7, 4))
plot_losses(train_losses, val_losses, "Part 1: Fashion-MNIST, the assignment's CNN")
plt.legend()
plt.grid(True)

plt.show()

# %% [markdown]
# <div class="alert alert-success">
#     <h3>7) Evaluate on test set</h3>
#     report accuracy on test set. Then report the model performance by showing the test accuracy (1 point)
# </div>

# %%
# CODE HERE
# Test the model on the test set
test_loss, test_acc = evaluate(model, test_loader, criterion, device, flips=recipe.test_flips)

print(f"[Fashion-MNIST test] Loss = {test_loss:.4f} | Acc = {test_acc*100:.2f}%")
if recipe.test_flips:  # so that nobody compares this figure with a single-pass one unawares
    print("(each test image and its mirror image classified together: the mean of their logits)")
# core: two_standard_errors
print(f"Two standard errors of this accuracy on {len(test_ds):,} test images: "
      f"{two_standard_errors(test_acc, len(test_ds)):.2f} points")

# Which classes my network confuses: accuracy per class, the most frequent mistakes, the matrix.
# core: predict, confusion_matrix, class_rates, mistakes, print_mistakes, plot_confusion
predictions, labels = predict(model, test_loader, device, flips=recipe.test_flips)
matrix = confusion_matrix(labels, predictions, len(train_full.classes))
per_class, confusions = print_mistakes(matrix, train_full.classes)
plot_confusion(matrix, train_full.classes)
plt.show()

# My test accuracy among Table 3 of the Fashion-MNIST paper (Xiao, Rasul and Vollgraf, 2017).
# published: table3
# core: table3_rows, rank, plot_comparison
ranked = rank(table3_rows(TABLE3_ACCURACY) + [{"name": "my CNN", "source": "this CNN",
                                               "accuracy": test_acc}])
for row in ranked:
    print(f"{row['rank']:>3}  {row['accuracy']:7.2%}  {row['name']}")
plot_comparison(ranked, "Fashion-MNIST test accuracy: my CNN among Table 3's classifiers")
plt.show()

# %% [markdown]
# <div class="alert alert-success">
#     <h3>8) Discussion prompts (2 point)</h3>
#     (a) Which techniques from Table 3 report better performance than your method? Which performs worse? Why do you think this is the case? Briefly explain. (1 point)<br>
#     (b) Do you have any other ideas about how to improve your method? Briefly explain. (1 point)
# </div>

# %% [markdown]
# answers: part 1

# %% [markdown]
# # Part 2: Image Classification — CIAFR-100 (14 points)
#
# **Goal:** Build and train a lightweight CNN on CIAFR-100 following the given architecture and specs.

# %%
# import something you may find useful
import os, random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split, Dataset
from torchvision import datasets, transforms
import numpy as np

import matplotlib
import matplotlib.pyplot as plt


def set_seed(seed: int = 42):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False

set_seed(42)

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
device = torch.device("mps") if torch.backends.mps.is_available() else device  # an Apple GPU
print("Device:", device)

data_dir = "./data"
os.makedirs(data_dir, exist_ok=True)

# %% [markdown]
# <div class="alert alert-success">
#     <h3>1) Data</h3>
#     load CIFAR-100 and create train/val/test splits (1 point)
# </div>

# %%
# CIFAR-100 normalization stats
CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)

transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD),
])


# Load CIFAR-100 (train + test)
# Use the following code to load the CIFAR-100 if you want, or you can download the data manually
train_full = datasets.CIFAR100(root=data_dir, train=True,  download=True, transform=transform)
test_ds = datasets.CIFAR100(root=data_dir, train=False, download=True, transform=transform)


# %%
# CODE HERE
# Define the training, validation, and test datasets.
# Note that you may want to select the validation set from the training set by randomly splitting the data
# The same in-memory loaders as in Part 1; the CIFAR-100 recipe adds random crops and flips.
recipe = RECIPES["cifar100"]
print(recipe)
train_ds, val_ds = split_train_val(train_full, recipe.val_fraction, recipe.seed)
show_examples(train_full)  # the first 10 of the 100 classes
plt.show()

batch_size = recipe.batch_size
# You may want to verify the data
train_loader = TensorLoader(train_ds, batch_size, device, shuffle=True, augment=recipe.augment,
                            seed=recipe.seed)
val_loader = TensorLoader(val_ds, EVAL_BATCH_SIZE, device)
test_loader = TensorLoader(test_ds, EVAL_BATCH_SIZE, device)

len(train_ds), len(val_ds), len(test_ds)

# %% [markdown]
# <div class="alert alert-success">
#     <h3>2) Model</h3>
#     Build the CNN model (4 points)
# </div>

# %%
# core: SmallCNN
# Part 1's class already takes the input channels, the image size and the number of classes, so
# the adapted network changes only those: 3 colour channels, 32x32 images, 100 logits (256 -> 100).

# My implementation is the best of these candidates on validation (item 5 trains and compares them):
# the adapted network itself, or one with the change named beside it.
# core: StudyCNN, VARIANTS, build_model, STUDY
for name, (variant, changes, change) in STUDY.items():
    size = count_parameters(build_model(variant, 3, 32, 100))
    print(f"{name:<16} {size:>9,} parameters  {change}")

# You may want to verify the architecture of CNN
# The counts above initialised networks too: re-seed, so that the adapted network starts
# from the same random state as every study entry (train_entry) in item 5.
torch.manual_seed(recipe.seed)
model = SmallCNN(in_channels=3, image_size=32, num_classes=100).to(device)
model = model.to(memory_format=torch.channels_last)
model

# %% [markdown]
# <div class="alert alert-success">
#     <h3>3) Loss & Optimizer</h3>
#     CrossEntropy + SGD (1 point)
# </div>

# %%
# CODE HERE
# The same loss, optimizer and schedule as in Part 1 (make_training above), with the Part 2 recipe.
criterion, optimizer, scheduler = make_training(model, recipe, len(train_loader))
print(describe_recipe(recipe, len(train_loader)))

# You may want to verify the criterion and optimizer
criterion, optimizer

# %% [markdown]
# <div class="alert alert-success">
#     <h3>4) Training loop</h3>
#     track training and validation loss (1 points)
# </div>

# %%
# CODE HERE
# Train the network for each epoch
# core: train_one_epoch

# CODE HERE
# Evaluate the model on the validation set
# core: logits_of, evaluate

# %% [markdown]
# <div class="alert alert-success">
#     <h3>5) Run training</h3>
#     ≥ 15 epochs (1 point)
# </div>

# %%
# CODE HERE
# Set the training epochs
epochs = recipe.epochs
train_losses, val_losses, train_accs, val_accs = [], [], [], []
epoch_seconds = []


# CODE HERE
# Run the training epochs
for epoch in range(1, epochs + 1):
    start = time.perf_counter()
    tr_loss, tr_acc = train_one_epoch(model, train_loader, optimizer, criterion, device,
                                      scheduler=scheduler)
    va_loss, va_acc = evaluate(model, val_loader, criterion, device, flips=recipe.test_flips)
    train_losses.append(tr_loss)
    val_losses.append(va_loss)
    train_accs.append(tr_acc)
    val_accs.append(va_acc)
    epoch_seconds.append(time.perf_counter() - start)
    print(f"Epoch {epoch:2d}/{epochs}: train loss {tr_loss:.4f}, acc {tr_acc:.2%} | "
          f"val loss {va_loss:.4f}, acc {va_acc:.2%} | {epoch_seconds[-1]:.1f} s")

# The architecture study: every other candidate trained in full with the same recipe, split and
# seed, and compared on validation accuracy; the test set plays no part in the choice.
# core: entry_loader, new_history, run_epoch, fit, train_entry, study_rows, chosen_entry, plot_study
adapted_history = {"train_losses": train_losses, "val_losses": val_losses, "train_accs": train_accs,
                   "val_accs": val_accs, "seconds": epoch_seconds}
results = {"spec": (model, adapted_history)}
for name in STUDY:
    if name != "spec":
        results[name] = train_entry(name, train_loader, val_loader, recipe, device, (3, 32, 100))
rows = study_rows(results)
for row in rows:
    delta = row["val_delta_points"]
    print(f"{row['entry']:<16} validation {row['val_accuracy']:.2%} ({delta:+.2f} points against "
          f"the adapted network), {row['seconds']:.0f} s")
chosen = chosen_entry(rows)
chosen_model, chosen_history = results[chosen]
print(f"My implementation, chosen on validation accuracy: {chosen} ({STUDY[chosen][2]})")
plot_study(rows, "Part 2: validation accuracy of each candidate")
plt.show()

# %% [markdown]
# <div class="alert alert-success">
#     <h3>6) Plot</h3>
#     training vs validation loss (1 point)
# </div>

# %%
# CODE HERE
# The adapted network (left) and my implementation, the candidate chosen on validation (right).
plt.figure(figsize=(12, 4))
plt.subplot(1, 2, 1)
plot_losses(train_losses, val_losses, "Part 2: the adapted network")
plt.legend()
plt.grid(True)
plt.subplot(1, 2, 2)
plot_losses(chosen_history["train_losses"], chosen_history["val_losses"],
            f"Part 2: my implementation ({chosen})")
plt.legend()
plt.grid(True)

plt.show()

# %% [markdown]
# <div class="alert alert-success">
#     <h3>7) Evaluate on test set</h3>
#     report accuracy (1 point)
# </div>

# %%
# CODE HERE
# Test the model on the test set
# Each model is tested once, after the choice: my implementation, and the adapted network beside it.
adapted_loss, adapted_acc = evaluate(model, test_loader, criterion, device,
                                     flips=recipe.test_flips)
test_loss, test_acc = evaluate(chosen_model, test_loader, criterion, device,
                              flips=recipe.test_flips)
print(f"The adapted network: test loss {adapted_loss:.4f}, test accuracy {adapted_acc:.2%}")
print(f"My implementation ({chosen}):")
print(f"[CIFAR-100 test] Loss = {test_loss:.4f} | Acc = {test_acc*100:.2f}%")

# %% [markdown]
# <div class="alert alert-success">
#     <h3>8) Discussion prompts (4 points)</h3>
#     (a) Compared to your Fashion-MNIST results in Part 1, how did the training and validation curves change on CIFAR-100? Did you observe more overfitting, underfitting, or slower convergence? Explain briefly. (1 point)<br>
#     (b) Based on the ResNet results above (around $80\%$ accuracy) and your own results (around $35$-$45\%$), what architectural differences do you think account for most of the performance gap? Consider depth, width (number of channels), skip connections, and data augmentation, and any modifications you have made to your own architecture. (2 point)<br>
#     (c) What change did you make to your architecture that you were most surprised about?
# This could be a large increase or decrease in performance, or something you added that
# didn’t change anything. What is your big takeaway from that experience? (1 point)<br>
#     
# </div>

# %% [markdown]
# answers: part 2
