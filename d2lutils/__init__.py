"""d2lutils: 《动手学深度学习 v2》可执行教材的辅助函数。

Small, hand-written helpers with the familiar d2l names.  Chapters build things
from scratch first, later chapters import them from here.  Every function
returns its results; thresholds live in the chapters' check cells and in tests.
"""
__version__ = "0.1.0"

from .config import PROFILES, ProfileError, RunConfig, resolve_profile, setup
from .device import num_gpus, seed_everything, try_all_gpus, try_gpu
from .utils import Accumulator, Timer, glue
from .plotting import (Animator, empty_axes, plot, set_axes, set_figsize, show_images,
                       use_chinese_font, use_png)
from .hub import (REGISTRY, DataUnavailableError, cache_dir, extract, fetch,
                  local_mirrors)
from .conv import corr2d
from .arrays import ArrayLoader, linreg, load_array, sgd, squared_loss, synthetic_data
from .mnist import (FASHION_MNIST_LABELS, get_fashion_mnist_labels, load_data_fashion_mnist,
                    load_data_mnist, load_mnist_tensors, read_idx)
from .train import (History, accuracy, evaluate_accuracy, evaluate_accuracy_gpu, evaluate_loss,
                    predict_ch3, train_ch3, train_ch6, train_epoch_ch3)
# 循环神经网络：文本预处理与字符级语言模型
from .text import (SeqDataLoader, Vocab, count_corpus, load_corpus_time_machine,
                   load_data_time_machine, ngram_ppl, read_time_machine, seq_data_iter_random,
                   seq_data_iter_sequential, tokenize)
from .rnn import (RNNHistory, RNNModel, RNNModelScratch, evaluate_ppl_ch8, grad_clipping, predict_ch8,
                  sample_word_stats, train_ch8, train_epoch_ch8)
# 计算性能：从笔记本用 torchrun 启动多进程脚本
from . import distributed
from .distributed import run_torchrun, torchrun_command, torchrun_env
# 优化算法：airfoil 数据、train_ch11 与二维轨迹
from .optim import (compare_with_torch, get_data_ch11, read_airfoil, show_trace_2d, train_2d,
                    train_ch11, train_concise_ch11)
from .seq2seq import (Decoder, Encoder, EncoderDecoder, MaskedSoftmaxCELoss, Seq2SeqDecoder,
                      Seq2SeqEncoder, Seq2SeqHistory, bleu, build_array_nmt, load_data_nmt,
                      predict_seq2seq, preprocess_nmt, read_data_nmt, sequence_mask, tokenize_nmt,
                      train_seq2seq, truncate_pad)
# 注意力机制与 Transformer
from .attention import (AddNorm, AdditiveAttention, AttentionDecoder, DecoderBlock,
                        DotProductAttention, EncoderBlock, MultiHeadAttention, PositionalEncoding,
                        PositionWiseFFN, TransformerDecoder, TransformerEncoder, masked_softmax,
                        show_heatmaps, transpose_output, transpose_qkv)
# 计算机视觉：小输入的 ResNet-18、train_ch13、预训练模型、Kaggle 目录结构与批量增广
from .vision import (copyfile, download_extract, image_loader, per_sample,
                     pretrained_fashion_resnet, read_csv_labels, read_image_folder, reorg_test,
                     reorg_train_valid, resnet18, train_batch_ch13, train_ch13)
# 物体检测：边界框、锚框、非极大值抑制、香蕉检测数据集
from .detection import (BananasDataset, bbox_to_rect, box_center_to_corner, box_corner_to_center,
                        box_iou, load_data_bananas, multibox_detection, multibox_prior,
                        multibox_target, nms, offset_boxes, offset_inverse, assign_anchor_to_bbox,
                        read_data_bananas, show_bboxes)
# 语义分割：VOC2012 读取、图像与标签一起随机裁剪、VOC 格式的生成替代数据、逐像素训练与指标
from .segmentation import (RGB_MEAN, RGB_STD, STANDIN_SHAPES, VOC_CLASSES, VOC_COLORMAP, VOC_SHA1,
                           VOC_URL, VOCSegDataset, confusion_matrix, download_voc, find_voc,
                           load_data_voc, make_voc_standin, read_voc_images, segmentation_metrics,
                           train_segmentation, voc_colormap2label, voc_label_indices, voc_rand_crop)
# 自然语言处理：预训练（BERT）
from .bert import (BERTEncoder, BERTHistory, BERTModel, MaskLM, NextSentencePred, SNLIBERTDataset,
                   _get_batch_loss_bert, get_bert_encoding, get_tokens_and_segments, load_data_wiki,
                   pretrained_bert, read_snli, read_wiki, snli_dir, train_bert, wikitext2_file,
                   WikiTextDataset)
from .checks import NonFiniteLossError, bilingual
