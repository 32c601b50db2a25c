"""Knowledge distillation, as Keras 3's `keras.distillation`: a `Distiller` model that trains a
student on labels and on a frozen teacher, and the losses that say what the student learns.

    from kerasish.distillation import Distiller, LogitsDistillation

    distiller = Distiller(teacher, student, LogitsDistillation(temperature=3.0))
    distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    distiller.fit(x, y, epochs=3)
    distiller.student.save("student.keras")
"""

from kerasish.distillation.distillation_loss import DistillationLoss, FeatureDistillation, LogitsDistillation
from kerasish.distillation.distiller import Distiller

__all__ = ["Distiller", "DistillationLoss", "FeatureDistillation", "LogitsDistillation"]
