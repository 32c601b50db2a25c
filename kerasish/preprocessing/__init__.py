"""Keras's `keras.preprocessing` names: `sequence.pad_sequences`, `text.TextVectorization`,
`image.array_to_img` (and `img_to_array`, `load_img`, `save_img`), and the `*_dataset_from_*`
functions of `kerasish.utils`."""

from kerasish.preprocessing import image, sequence, text

__all__ = ["image", "sequence", "text", "image_dataset_from_directory", "text_dataset_from_directory",
           "timeseries_dataset_from_array"]

_FROM_UTILS = ("image_dataset_from_directory", "text_dataset_from_directory", "timeseries_dataset_from_array")


def __getattr__(name: str):
    if name in _FROM_UTILS:  # loaded on first use, as kerasish.utils loads them
        from kerasish import utils

        return getattr(utils, name)
    from kerasish.utils.keras_names import missing_attribute

    raise missing_attribute(__name__, name, __all__)
