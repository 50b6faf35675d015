#!/usr/bin/env bash
# Draws data/sample-image: a small image-captioning and visual-question-answering set (ImageMagick, DejaVu Sans).
# Each 96x96 PNG shows 1-3 shapes of one colour, or a word; the captions and answers say what is drawn.
#   train.csv / validation.csv   image_path,caption          (--modality image; caption rows)
#   vqa.csv                      image_path,question,answer  (--modality image; VQA rows)
# Deterministic: the same files every run. Usage: tools/make_sample_images.sh [OUT_DIR]
set -euo pipefail
out=${1:-"$(dirname "$0")/../data/sample-image"}
mkdir -p "$out/images"
font=DejaVu-Sans
command -v convert >/dev/null || { echo "needs ImageMagick (apt-get install imagemagick)" >&2; exit 1; }

colours=(red green blue orange)
shapes=(circle square triangle)
counts=(one two three)
caption=train.csv
echo "image_path,caption" > "$out/train.csv"
echo "image_path,caption" > "$out/validation.csv"
echo "image_path,question,answer" > "$out/vqa.csv"

draw_shape() {  # shape x y -> an ImageMagick -draw primitive of a shape centred at x,y
  case $1 in
    circle) echo "circle $2,$3 $(( $2 + 11 )),$3" ;;
    square) echo "rectangle $(( $2 - 10 )),$(( $3 - 10 )) $(( $2 + 10 )),$(( $3 + 10 ))" ;;
    triangle) echo "polygon $2,$(( $3 - 12 )) $(( $2 - 12 )),$(( $3 + 10 )) $(( $2 + 12 )),$(( $3 + 10 ))" ;;
  esac
}
xs=(48 26 70); ys=(48 30 66)
i=0
for c in "${colours[@]}"; do
  for s in "${shapes[@]}"; do
    n=$(( i % 3 + 1 ))
    name=$(printf "shape-%02d.png" "$i")
    args=()
    for (( k = 0; k < n; k++ )); do
      if (( n == 1 )); then x=48; y=48; else x=${xs[$k]}; y=${ys[$k]}; fi
      args+=(-draw "$(draw_shape "$s" "$x" "$y")")
    done
    convert -size 96x96 xc:white -fill "$c" "${args[@]}" -define png:exclude-chunks=date,time "$out/images/$name"
    plural=$s; (( n > 1 )) && plural="${s}s"
    text="${counts[$(( n - 1 ))]^} $c $plural on a white background."
    split=train.csv; (( i % 6 == 5 )) && split=validation.csv
    echo "images/$name,$text" >> "$out/$split"
    echo "images/$name,How many ${s}s are there?,${counts[$(( n - 1 ))]^}." >> "$out/vqa.csv"
    echo "images/$name,What colour are the shapes?,${c^}." >> "$out/vqa.csv"
    i=$(( i + 1 ))
  done
done
words=(CAT SUN TREE BOAT FISH STAR)
for (( j = 0; j < ${#words[@]}; j++ )); do
  w=${words[$j]}
  name=$(printf "word-%02d.png" "$j")
  convert -size 96x96 xc:white -font "$font" -pointsize 26 -fill black -gravity center -annotate +0+0 "$w" \
    -define png:exclude-chunks=date,time "$out/images/$name"
  split=train.csv; (( j % 3 == 2 )) && split=validation.csv
  echo "images/$name,The word $w written in black." >> "$out/$split"
  echo "images/$name,What word is written?,$w." >> "$out/vqa.csv"
done
echo "wrote $(ls "$out/images" | wc -l) images and $(( $(wc -l < "$out/train.csv") - 1 )) train," \
     "$(( $(wc -l < "$out/validation.csv") - 1 )) validation, $(( $(wc -l < "$out/vqa.csv") - 1 )) VQA rows to $out"
