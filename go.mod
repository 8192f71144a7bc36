module github.com/perdure/perdure

go 1.26.8
