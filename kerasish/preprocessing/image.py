"""`keras.preprocessing.image`: the image-file helpers under the names Keras 2 code imports them by.

`from kerasish.preprocessing import image; image.array_to_img(x)` is `kerasish.utils.array_to_img(x)`,
as Keras 3 keeps `keras.preprocessing.image.array_to_img` for the Keras 2 examples that call it.
Pillow is imported on first use, not here.
"""

from kerasish.utils.image_utils import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]


def __getattr__(name: str):
    # Only for names this module lacks: says whether it is a Keras 3 name kerasish does not implement.
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
