"""kerasish.ops.image against Keras 3's ops.image (torch backend), plus its error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kerasish.ops as kops
from tests.ops.ops_parity import check_op

rng = np.random.default_rng(0)
DATA_FORMATS = ["channels_last", "channels_first"]


def images(shape=(2, 7, 9, 3), data_format="channels_last", dtype="float32"):
    """Random images in [0, 1) (uint8 in [0, 255]); `shape` is channels-last, permuted for channels_first."""
    x = rng.random(shape)
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, -3)
    x = np.ascontiguousarray(x)
    return (x * 255).astype(dtype) if dtype in ("uint8", "int32") else x.astype(dtype)


def image_check(name, *args, **kwargs):
    return check_op(name, *args, namespace="image", **kwargs)


# ----------------------------------------------------------------- color
@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "float32"), ((5, 4, 3), "float64"), ((2, 4, 4, 3), "uint8"),
                                         ((4, 4, 3), "int32"), ((2, 4, 4, 1), "float32")])
def test_rgb_to_grayscale(data_format, shape, dtype):
    out = image_check("rgb_to_grayscale", images(shape, data_format, dtype), data_format=data_format)
    assert out.shape[-1 if data_format == "channels_last" else -3] == 1


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "float32"), ((5, 4, 3), "float64")])
def test_hsv_round_trip(data_format, shape, dtype):
    x = images(shape, data_format, dtype)
    x.reshape(-1)[:6] = [0.0, 1.0, 0.5, 1e-9, 0.25, 0.25]  # zeros, ties and tiny values
    hsv = image_check("rgb_to_hsv", x, data_format=data_format)
    image_check("hsv_to_rgb", x, data_format=data_format)
    back = kops.image.hsv_to_rgb(hsv, data_format=data_format)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-5)


def test_float16_color():
    image_check("rgb_to_hsv", images((2, 4, 4, 3), dtype="float16"), atol=1e-3)
    image_check("rgb_to_grayscale", images((2, 4, 4, 3), dtype="float16"), atol=1e-3)


# ----------------------------------------------------------------- resize
@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size,aspect", [((4, 5), None), ((13, 15), None), ((12, 5), "crop"), ((4, 12), "pad")])
def test_resize(data_format, interpolation, antialias, size, aspect):
    kwargs = {"crop_to_aspect_ratio": aspect == "crop", "pad_to_aspect_ratio": aspect == "pad"}
    if aspect == "pad":
        kwargs["fill_value"] = 0.5
    image_check("resize", images((2, 7, 9, 3), data_format), size, interpolation=interpolation, antialias=antialias,
                data_format=data_format, **kwargs)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "uint8"), ((7, 9, 3), "uint8"), ((7, 9, 2), "float16"),
                                         ((2, 7, 9, 1), "float64")])
def test_resize_dtypes_and_single_images(interpolation, shape, dtype):
    for size in ((4, 5), (13, 20)):
        out = image_check("resize", images(shape, dtype=dtype), size, interpolation=interpolation, atol=1e-3)
        assert out.dtype == getattr(torch, dtype)


@pytest.mark.parametrize("interpolation", ["lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [False, True])
def test_resize_lanczos_is_scale_and_translate(interpolation, antialias):
    # Keras's torch backend refuses Lanczos; kerasish resizes as its JAX backend (scale out/in, no shift).
    from tests.keras_parity import keras_module

    keras = keras_module()
    x = torch.from_numpy(images((2, 7, 9, 3)))
    ours = kops.image.resize(x, (4, 13), interpolation=interpolation, antialias=antialias)
    theirs = keras.ops.image.scale_and_translate(x, (2, 4, 13, 3), torch.tensor([4 / 7, 13 / 9]), torch.zeros(2),
                                                 (1, 2), interpolation, antialias=antialias)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    u8 = kops.image.resize(torch.from_numpy(images((7, 9, 3), dtype="uint8")), (20, 20), interpolation=interpolation)
    assert u8.dtype == torch.uint8 and u8.shape == (20, 20, 3)


# ----------------------------------------------------------------- pad and crop
PAD_ARGS = [
    dict(top_padding=1, left_padding=2, bottom_padding=0, right_padding=3),
    dict(top_padding=1, bottom_padding=2, left_padding=0, target_width=14),
    dict(bottom_padding=0, target_height=10, right_padding=1, target_width=11),
]
CROP_ARGS = [
    dict(top_cropping=1, left_cropping=2, bottom_cropping=0, right_cropping=3),
    dict(top_cropping=1, target_height=4, left_cropping=2, target_width=5),
    dict(bottom_cropping=0, target_height=7, right_cropping=1, target_width=4),
]


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("args", PAD_ARGS)
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "float32"), ((7, 9, 2), "uint8")])
def test_pad_images(data_format, args, shape, dtype):
    image_check("pad_images", images(shape, data_format, dtype), data_format=data_format, **args)


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("args", CROP_ARGS)
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "float32"), ((7, 9, 2), "uint8")])
def test_crop_images(data_format, args, shape, dtype):
    image_check("crop_images", images(shape, data_format, dtype), data_format=data_format, **args)


def test_pad_and_crop_positional_arguments():
    x = images((2, 7, 9, 3))
    image_check("pad_images", x, 2, 3, target_height=20, target_width=30)
    image_check("crop_images", x, 1, 2, None, None, 4, 5)


# ----------------------------------------------------------------- patches
@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("size,strides,dilation,padding", [
    ((2, 3), None, 1, "valid"), (3, 2, 1, "same"), ((2, 2), 1, 2, "valid"), ((3, 2), (2, 1), 1, "same"),
    (4, None, 1, "same"),
])
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "float32"), ((7, 9, 2), "uint8")])
def test_extract_patches(data_format, size, strides, dilation, padding, shape, dtype):
    if dtype == "uint8" and dilation != 1:  # Keras's torch backend has no dilated uint8 convolution
        x = images(shape, data_format, dtype)
        ours = kops.image.extract_patches(torch.from_numpy(x), size, strides, dilation, padding, data_format)
        floats = kops.image.extract_patches(torch.from_numpy(x).float(), size, strides, dilation, padding, data_format)
        assert ours.dtype == torch.uint8 and torch.equal(ours.float(), floats)
        return
    image_check("extract_patches", images(shape, data_format, dtype), size, strides, dilation, padding,
                data_format=data_format)


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("size,strides,padding", [((2, 2, 3), None, "valid"), (2, 1, "same"),
                                                  ((3, 2, 2), (2, 1, 2), "same")])
@pytest.mark.parametrize("shape", [(2, 5, 6, 7, 2), (5, 6, 7, 2)])
def test_extract_patches_3d(data_format, size, strides, padding, shape):
    volumes = images(shape, data_format)
    image_check("extract_patches_3d", volumes, size, strides, padding=padding, data_format=data_format)
    if not isinstance(size, int):  # a 3-tuple size makes extract_patches take volumes too
        image_check("extract_patches", volumes, size, strides, padding=padding, data_format=data_format)


# ----------------------------------------------------------------- filters
@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("kernel_size,sigma", [((3, 3), (1.0, 1.0)), ((5, 5), (1.0, 2.5)), ((1, 1), (0.5, 0.5))])
@pytest.mark.parametrize("shape,dtype", [((2, 7, 9, 3), "float32"), ((7, 9, 2), "float64")])
def test_gaussian_blur(data_format, kernel_size, sigma, shape, dtype):
    image_check("gaussian_blur", images(shape, data_format, dtype), kernel_size, sigma, data_format=data_format)


def test_gaussian_blur_even_kernel_keeps_the_size():
    # Keras's torch backend grows the image by one for even kernels; kerasish pads as 'same'.
    x = torch.from_numpy(images((2, 7, 9, 3)))
    out = kops.image.gaussian_blur(x, 4, 1.5)
    assert out.shape == x.shape
    constant = kops.image.gaussian_blur(torch.ones(1, 8, 8, 1), (4, 4))
    assert torch.allclose(constant[0, 2:-2, 2:-2], torch.ones(4, 4, 1))


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int32"])
def test_sobel_edges(data_format, dtype):
    out = image_check("sobel_edges", images((2, 7, 9, 3), data_format, dtype), data_format=data_format)
    assert out.shape[-1] == 2


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("shape,dtype,kwargs", [
    ((2, 16, 18, 3), "float32", {}), ((12, 12, 1), "float64", {"filter_size": 5, "filter_sigma": 1.0}),
    ((2, 9, 9, 3), "uint8", {"max_val": 255.0, "filter_size": 7}),
    ((2, 8, 8, 2), "float32", {"k1": 0.05, "k2": 0.1, "filter_size": 3}),
])
def test_ssim(data_format, shape, dtype, kwargs):
    a = images(shape, data_format, dtype)
    b = np.clip(a + images(shape, data_format, dtype) * 0.2, 0, 255).astype(dtype)
    image_check("ssim", a, b, data_format=data_format, **kwargs)
    same = kops.image.ssim(torch.from_numpy(a), torch.from_numpy(a), data_format=data_format, **kwargs)
    assert torch.allclose(same.double(), torch.ones_like(same).double(), atol=1e-4)


# ----------------------------------------------------------------- resampling
TRANSFORMS = np.array([[1.5, 0.5, -3.0, 0.25, 1.5, -2.0, 0.0, 0.0],  # zoom and shear
                       [1.0, 0.0, -2.0, 0.0, 1.0, 3.0, 0.0, 0.0]])  # translation


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_affine_transform(data_format, interpolation, fill_mode):
    image_check("affine_transform", images((2, 7, 9, 3), data_format), TRANSFORMS.astype("float32"),
                interpolation=interpolation, fill_mode=fill_mode, fill_value=0.3, data_format=data_format)


@pytest.mark.parametrize("shape,dtype,transform", [((7, 9, 3), "float32", TRANSFORMS[0]),
                                                   ((2, 7, 9, 3), "uint8", TRANSFORMS.astype("float32")),
                                                   ((2, 7, 9, 1), "float32", TRANSFORMS)])  # float64 transform
def test_affine_transform_dtypes_and_single_images(shape, dtype, transform):
    for interpolation in ("nearest", "bilinear"):
        image_check("affine_transform", images(shape, dtype=dtype), transform, interpolation=interpolation,
                    fill_value=7)


def test_affine_transform_identity_and_broadcast():
    x = torch.from_numpy(images((3, 5, 6, 2)))
    identity = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0])
    assert torch.equal(kops.image.affine_transform(x, identity), x)  # one transform for the whole batch
    # The projective terms divide, as Keras documents: with c0 = 1, output x reads input x / (x + 1).
    ramp = torch.arange(4.0).reshape(1, 4, 1)  # one row whose value is its x
    projective = kops.image.affine_transform(ramp, [1.0, 0, 0, 0, 1, 0, 1.0, 0])
    torch.testing.assert_close(projective.flatten(), torch.tensor([0.0, 1 / 2, 2 / 3, 3 / 4]))


START = np.array([[0, 0], [0, 7], [9, 0], [9, 7]], dtype="float32")
END = np.array([[1, 0], [0, 6], [8, 1], [9.5, 7]], dtype="float32")


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape,start,end", [((2, 7, 9, 3), START, END),
                                             ((2, 7, 9, 3), np.stack([START, START + 1]), np.stack([END, END])),
                                             ((7, 9, 2), START, END)])
def test_perspective_transform(data_format, interpolation, shape, start, end):
    image_check("perspective_transform", images(shape, data_format), start, end, interpolation=interpolation,
                fill_value=0.5, data_format=data_format, atol=1e-4)


def test_perspective_transform_uint8_integer_points():
    image_check("perspective_transform", images((2, 7, 9, 3), dtype="uint8"), START.astype("int64"),
                np.array([[1, 0], [0, 6], [8, 1], [9, 7]]), fill_value=3)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("shape,dtype", [((5, 6), "float32"), ((4, 5, 3), "float64"), ((5, 6), "uint8")])
def test_map_coordinates(order, fill_mode, shape, dtype):
    x = images(shape, dtype=dtype)
    coords = rng.uniform(-4, 9, (len(shape), 3, 4)).astype("float32")
    image_check("map_coordinates", x, coords, order, fill_mode=fill_mode, fill_value=-1.0 if dtype != "uint8" else 9)


def test_map_coordinates_takes_a_list_of_arrays():
    x = images((5, 6))
    coords = [np.array([0.5, 4.2, -1.0], "float32"), np.array([1.0, 5.5, 2.0], "float32")]
    image_check("map_coordinates", x, coords, 1, numpy_inputs=True)


@pytest.mark.parametrize("method", ["linear", "bilinear", "cubic", "tricubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [True, False])
def test_scale_and_translate(method, antialias):
    scale, translation = np.array([0.6, 1.4], "float32"), np.array([0.5, -1.0], "float32")
    image_check("scale_and_translate", images((2, 7, 9, 3)), (2, 4, 13, 3), scale, translation, (1, 2), method,
                antialias=antialias)


@pytest.mark.parametrize("dtype,dims", [("uint8", (1, 2)), ("float64", (-3, -2)), ("float32", ())])
def test_scale_and_translate_dtypes(dtype, dims):
    scale, translation = np.array([2.0, 0.5], "float64")[:len(dims)], np.array([-0.5, 0.0], "float32")[:len(dims)]
    shape = (2, 14, 5, 3) if dims else (2, 7, 9, 3)
    image_check("scale_and_translate", images((2, 7, 9, 3), dtype=dtype), shape, scale, translation, dims, "cubic")


# ----------------------------------------------------------------- elastic_transform (random: statistics only)
def test_elastic_transform_matches_keras_statistics():
    from tests.keras_parity import keras_module

    keras = keras_module()
    ramp = torch.linspace(0, 1, 32).reshape(1, 1, 32, 1).expand(2, 32, 32, 3).contiguous()
    ours = torch.stack([(kops.image.elastic_transform(ramp, seed=s) - ramp).abs().mean() for s in range(4)])
    theirs = torch.stack([(keras.ops.image.elastic_transform(ramp) - ramp).abs().mean() for _ in range(4)])
    assert 0.5 < ours.mean() / theirs.mean() < 2.0


@pytest.mark.parametrize("data_format", DATA_FORMATS)
@pytest.mark.parametrize("shape,dtype", [((2, 12, 10, 3), "float32"), ((12, 10, 1), "uint8"),
                                         ((2, 12, 10, 3), "float16")])
def test_elastic_transform_shapes_and_seeds(data_format, shape, dtype):
    x = torch.from_numpy(images(shape, data_format, dtype))
    out = kops.image.elastic_transform(x, alpha=5.0, sigma=2.0, seed=3, data_format=data_format)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, kops.image.elastic_transform(x, alpha=5.0, sigma=2.0, seed=3, data_format=data_format))
    assert not torch.equal(out, kops.image.elastic_transform(x, alpha=5.0, sigma=2.0, seed=4, data_format=data_format))
    still = kops.image.elastic_transform(x, alpha=0.0, sigma=2.0, interpolation="nearest", data_format=data_format)
    assert torch.equal(still, x)


# ----------------------------------------------------------------- symbolic and device
def test_image_ops_record_nodes_on_keras_tensors():
    import kerasish

    inputs = kerasish.Input((8, 8, 3))
    outputs = kops.image.rgb_to_grayscale(kops.image.resize(inputs, (4, 6)))
    assert tuple(outputs.shape) == (None, 4, 6, 1)
    model = kerasish.Model(inputs, outputs)
    assert tuple(model(torch.rand(2, 8, 8, 3)).shape) == (2, 4, 6, 1)


@pytest.mark.gpu
def test_image_ops_stay_on_the_device():
    x = torch.rand(2, 16, 16, 3, device="cuda")
    results = [
        kops.image.resize(x, (8, 8)), kops.image.resize(x, (8, 8), interpolation="lanczos3"),
        kops.image.affine_transform(x, torch.tensor(TRANSFORMS, device="cuda")),
        kops.image.perspective_transform(x, START, END), kops.image.elastic_transform(x, seed=1),
        kops.image.gaussian_blur(x), kops.image.sobel_edges(x), kops.image.ssim(x, x, filter_size=5),
        kops.image.extract_patches(x, 4), kops.image.rgb_to_hsv(x),
        kops.image.map_coordinates(x[0, :, :, 0], np.zeros((2, 3)), 1),
    ]
    assert all(r.device.type == "cuda" for r in results)
    cpu = kops.image.affine_transform(x.cpu(), TRANSFORMS)
    torch.testing.assert_close(kops.image.affine_transform(x, TRANSFORMS).cpu(), cpu)


# ----------------------------------------------------------------- errors
X4 = np.zeros((2, 6, 6, 3), "float32")


@pytest.mark.parametrize("call,error,match", [
    (lambda: kops.image.resize(np.zeros((6, 6)), (3, 3)), ValueError,
     r"rank 3 \(one image\) or rank 4 \(a batch of images\), received shape \(6, 6\)"),
    (lambda: kops.image.affine_transform(np.zeros((1, 2, 6, 6, 3)), TRANSFORMS), ValueError, "must have rank 3"),
    (lambda: kops.image.sobel_edges(np.zeros((6, 6, 3))), ValueError, r"rank 4 \(a batch of images\)"),
    (lambda: kops.image.extract_patches_3d(X4[0], 2), ValueError, r"volumes must have rank 4 \(one volume\) or rank 5"),
    (lambda: kops.image.ssim(X4, X4[0]), ValueError, "same shape"),
    (lambda: kops.image.ssim(X4, X4), ValueError, "smaller than filter_size=11"),
    (lambda: kops.image.resize(X4, (3, 3), interpolation="bilinearr"), ValueError, "Did you mean 'bilinear'"),
    (lambda: kops.image.resize(X4, (3, 3), interpolation="area"), ValueError, r"unknown interpolation='area'"),
    (lambda: kops.image.affine_transform(X4, TRANSFORMS, interpolation="bicubic"), ValueError,
     r"Expected one of \['nearest', 'bilinear'\]"),
    (lambda: kops.image.affine_transform(X4, TRANSFORMS, fill_mode="edge"), ValueError, "unknown fill_mode='edge'"),
    (lambda: kops.image.affine_transform(X4, np.zeros(6)), ValueError, r"shape \(8,\) .* received shape \(6,\)"),
    (lambda: kops.image.affine_transform(X4, np.zeros((3, 8))), ValueError, "3 transforms for a batch of 2"),
    (lambda: kops.image.rgb_to_grayscale(X4, data_format="NHWC"), ValueError, "data_format must be 'channels_last'"),
    (lambda: kops.image.gaussian_blur(X4, data_format="channels"), ValueError, "received data_format='channels'"),
    (lambda: kops.image.rgb_to_grayscale(np.zeros((2, 6, 6, 2))), ValueError, "3 .RGB. or 1 .grayscale. channels"),
    (lambda: kops.image.rgb_to_hsv(np.zeros((2, 6, 6, 4), "float32")), ValueError, "must have 3 channels"),
    (lambda: kops.image.hsv_to_rgb(np.zeros((2, 6, 6, 3), "int32")), ValueError, "expects float images"),
    (lambda: kops.image.resize(X4, (3, 0)), ValueError, "size must be 2 positive ints"),
    (lambda: kops.image.resize(X4, (3, 3), fill_mode="reflect"), ValueError, "fill_mode must be 'constant'"),
    (lambda: kops.image.resize(X4, (3, 3), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ValueError,
     "at most one of"),
    (lambda: kops.image.pad_images(X4, 1, 1), ValueError, "exactly two of top_padding, bottom_padding"),
    (lambda: kops.image.pad_images(X4, -1, 1, 1, 1), ValueError, "top_padding must be >= 0"),
    (lambda: kops.image.pad_images(X4, 1, 1, target_height=4, target_width=8), ValueError,
     "smaller than the images .6x6.* bottom_padding=-3"),
    (lambda: kops.image.crop_images(X4, 4, 4, target_height=4, target_width=1), ValueError, "does not fit"),
    (lambda: kops.image.crop_images(X4, 1, None, 1), ValueError, "exactly two of left_cropping"),
    (lambda: kops.image.extract_patches(X4, "3"), TypeError, "size must be an int or a tuple"),
    (lambda: kops.image.extract_patches(X4, (1, 2, 3, 4)), ValueError, "length 2 .images. or 3"),
    (lambda: kops.image.extract_patches(X4, 7), ValueError, "do not fit"),
    (lambda: kops.image.extract_patches(X4, 2, padding="full"), ValueError, "unknown padding='full'"),
    (lambda: kops.image.extract_patches(X4, 2, strides=0), ValueError, "strides must be a positive int"),
    (lambda: kops.image.gaussian_blur(X4, (3, 5)), NotImplementedError, "square kernels only"),
    (lambda: kops.image.gaussian_blur(X4.astype("uint8")), TypeError, "expects float images"),
    (lambda: kops.image.gaussian_blur(X4, sigma=(1.0, 2.0, 3.0)), ValueError, "sigma must be a number or 2"),
    (lambda: kops.image.map_coordinates(np.zeros((4, 4)), np.zeros((3, 5)), 1), ValueError,
     r"one array per axis of inputs \(2"),
    (lambda: kops.image.map_coordinates(np.zeros((4, 4)), np.zeros((2, 5)), 3), NotImplementedError, "order 0"),
    (lambda: kops.image.map_coordinates(np.zeros((4,)), np.zeros((1,)), 1), ValueError, "rank >= 2"),
    (lambda: kops.image.map_coordinates(np.zeros((4, 4)), np.zeros((2, 5)), 1, fill_mode="tile"), ValueError,
     "unknown fill_mode='tile'"),
    (lambda: kops.image.perspective_transform(X4, np.zeros((4, 3)), END), ValueError,
     r"start_points must have shape \(4, 2\)"),
    (lambda: kops.image.perspective_transform(X4, np.zeros((2, 4, 2)), END), ValueError, "the same shape"),
    (lambda: kops.image.scale_and_translate(X4, (2, 3, 3, 3), [0.5, 0.5], [0, 0], (1, 2), "nearest"), ValueError,
     "unknown method='nearest'"),
    (lambda: kops.image.scale_and_translate(X4, (3, 3), [0.5, 0.5], [0, 0], (1, 2), "linear"), ValueError,
     "output_shape must give a size for each of the 4 axes"),
    (lambda: kops.image.scale_and_translate(X4, (2, 3, 3, 3), [0.5], [0, 0], (1, 2), "linear"), ValueError,
     "one value per spatial dim"),
    (lambda: kops.image.elastic_transform(X4, seed="seed"), TypeError, "seed must be None or an int"),
    (lambda: kops.image.elastic_transform(X4, sigma=0.0), ValueError, "sigma must be > 0"),
    (lambda: kops.image.ssim(X4, X4, filter_size=0), ValueError, "filter_size must be a positive int"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
