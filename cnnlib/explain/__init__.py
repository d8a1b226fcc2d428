"""What a trained CNN looks at: feature maps, saliency, SmoothGrad, Integrated Gradients, Grad-CAM, occlusion,
heat-map overlays, and deletion and insertion curves that measure how faithful a map is.

Every function runs the model in eval mode (dropout off, batch norms on their running statistics, none of
them updated) and puts each module back in the mode it was in; hooks are removed even when the forward
pass raises. Inputs are batches ``(N, C, H, W)``; maps come back as ``(N, H, W)`` tensors on the CPU
(Integrated Gradients: attributions ``(N, C, H, W)``, one per input value).

Where things are: ``maps`` holds the chapter's first methods, ``attribution`` SmoothGrad and Integrated
Gradients, ``faithfulness`` the deletion and insertion curves, ``_hooks`` what they share.
"""

from ._hooks import layer_names
from .attribution import IG_METHODS, integrated_gradients, path_weights, smooth_grad
from .faithfulness import area_under_curve, deletion_curve, insertion_curve, pixel_order
from .maps import feature_maps, grad_cam, occlusion, overlay, saliency

__all__ = ["IG_METHODS", "area_under_curve", "deletion_curve", "feature_maps", "grad_cam", "insertion_curve",
           "integrated_gradients", "layer_names", "occlusion", "overlay", "path_weights", "pixel_order",
           "saliency", "smooth_grad"]
